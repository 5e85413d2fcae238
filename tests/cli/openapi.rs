//! The OpenAPI description of `callhook serve` against the real server: every route of the
//! router is described and nothing else is, and every answer of a request (successes and
//! errors) has a status, a content type and a body that the description gives for its
//! operation. The schemas forbid unknown fields and require the known ones, so a field added,
//! renamed or dropped on either side fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN};
use serde_json::{Value, json};

use crate::served::Served;
use crate::server::closed_port;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

/// The router, whose `.route("PATH", METHOD(…))` lines the description must match.
const ROUTER: &str = include_str!("../../src/serve/mod.rs");
/// The description as built into the program.
const SOURCE: &str = include_str!("../../src/serve/openapi.json");

const IMG: &str = "<img src=x onerror=alert(1)>";
const RTL: &str = "\u{202E}evil 5551230003";

/// The description and the server, with the requests checked against each other.
struct Check<'a> {
    doc: Value,
    serve: &'a Served,
    http: Client,
    /// The (path, method, status) answers seen, to tell which were never exercised.
    seen: BTreeSet<(String, String, String)>,
}

/// What a request sends besides its method and path.
#[derive(Default)]
struct Req<'a> {
    /// No `Authorization` header.
    anonymous: bool,
    body: Option<Value>,
    headers: Vec<(reqwest::header::HeaderName, &'a str)>,
}

impl Req<'_> {
    fn anonymous() -> Self {
        Req {
            anonymous: true,
            ..Req::default()
        }
    }

    fn body(body: Value) -> Self {
        Req {
            body: Some(body),
            ..Req::default()
        }
    }
}

impl Check<'_> {
    fn operation(&self, template: &str, method: &str) -> &Value {
        let op = &self.doc["paths"][template][method];
        assert!(
            op.is_object(),
            "{method} {template} is not in the description"
        );
        op
    }

    /// Sends `METHOD uri` (`uri` is `template` with its parameters filled in, and a query),
    /// and checks the answer against the operation of `template`; returns the status and body.
    fn request(&mut self, method: &str, template: &str, uri: &str, send: Req) -> (u16, Value) {
        let exchange = self.raw(method, template, uri, send);
        let body = self.check_answer(method, template, uri, &exchange);
        (exchange.status, body)
    }

    /// A request that must answer `status`.
    fn expect(&mut self, status: u16, method: &str, template: &str, uri: &str, send: Req) -> Value {
        let (got, body) = self.request(method, template, uri, send);
        assert_eq!(got, status, "{method} {uri}: {body}");
        body
    }

    fn builder(&self, method: &str, uri: &str, send: &Req) -> RequestBuilder {
        let url = format!("{}{uri}", self.serve.url);
        let mut request = match method {
            "get" => self.http.get(url),
            "post" => self.http.post(url),
            other => panic!("no method {other}"),
        };
        if !send.anonymous {
            request = request.bearer_auth(&self.serve.token);
        }
        if let Some(body) = &send.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        for (name, value) in &send.headers {
            request = request.header(name, *value);
        }
        request
    }

    /// The request, checked; its status, content type, body and headers.
    fn raw(&self, method: &str, template: &str, uri: &str, send: Req) -> Exchange {
        let undescribed = self.check_request(method, template, uri, &send);
        let answer = self.builder(method, uri, &send).send().unwrap();
        Exchange {
            status: answer.status().as_u16(),
            content_type: content_type(&answer),
            headers: answer.headers().clone(),
            text: answer.text().unwrap(),
            sent: send.body,
            undescribed,
        }
    }

    /// The request's path parameters and body are ones the operation describes; returns the
    /// query parameters it does not describe (wrong requests send some on purpose).
    fn check_request(&self, method: &str, template: &str, uri: &str, send: &Req) -> Vec<String> {
        let op = self.operation(template, method);
        let params: Vec<Value> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| self.resolve(p).clone()).collect())
            .unwrap_or_default();
        let declared =
            |name: &str, place: &str| params.iter().any(|p| p["name"] == name && p["in"] == place);
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let undescribed = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| pair.split_once('=').map_or(pair, |(n, _)| n))
            .filter(|name| !declared(name, "query"))
            .map(String::from)
            .collect();
        for (i, segment) in template.split('/').enumerate() {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    declared(name, "path"),
                    "{method} {template}: path parameter `{name}` is not described"
                );
                assert!(path.split('/').nth(i).is_some(), "{uri} has no {name}");
            }
        }
        if send.body.is_some() {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{method} {template} describes no JSON body"
            );
        }
        undescribed
    }

    /// The answer is one the operation describes: its status, its content type, and for JSON
    /// its body by the schema.
    fn check_answer(
        &mut self,
        method: &str,
        template: &str,
        uri: &str,
        exchange: &Exchange,
    ) -> Value {
        let Exchange {
            status,
            content_type,
            text,
            sent,
            undescribed,
            ..
        } = exchange;
        let (status, content_type) = (*status, content_type.as_str());
        // A parameter the server took must be described.
        assert!(
            undescribed.is_empty() || status >= 400,
            "{method} {uri} answered {status} with the query parameters {undescribed:?}, \
             which are not described"
        );
        let op = self.operation(template, method).clone();
        let answer = op["responses"].get(status.to_string()).unwrap_or_else(|| {
            panic!("{method} {uri} answered {status}, which is not described: {text}")
        });
        let answer = self.resolve(answer).clone();
        // A body the server took must fit the request's schema.
        if let Some(sent) = sent
            && (200..300).contains(&status)
        {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let errors = self.validate(schema, sent);
            assert!(
                errors.is_empty(),
                "{method} {uri}: the body {sent} was taken but does not match its schema: {}",
                errors.join("; ")
            );
        }
        self.seen
            .insert((template.into(), method.into(), status.to_string()));
        if answer.get("content").is_none() {
            assert!(
                text.is_empty(),
                "{method} {uri} ({status}) has a body the description does not give: {text}"
            );
            return Value::Null;
        }
        let media = answer["content"].get(content_type).unwrap_or_else(|| {
            panic!(
                "{method} {uri} ({status}) answered {content_type}, the description gives {}",
                answer["content"]
            )
        });
        if content_type != "application/json" {
            return Value::String(text.to_string());
        }
        let body: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{method} {uri} ({status}): not JSON ({e}): {text}"));
        let errors = self.validate(&media["schema"], &body);
        assert!(
            errors.is_empty(),
            "{method} {uri} ({status}) does not match its schema:\n  {}\nbody: {body:#}",
            errors.join("\n  ")
        );
        body
    }

    fn resolve<'v>(&'v self, value: &'v Value) -> &'v Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => resolve(&self.doc, reference),
            None => value,
        }
    }

    fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        validate(&self.doc, schema, value, "$", &mut errors);
        errors
    }
}

/// One request's answer.
struct Exchange {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    text: String,
    /// The JSON body sent.
    sent: Option<Value>,
    /// The query parameters the operation does not describe.
    undescribed: Vec<String>,
}

fn content_type(answer: &Response) -> String {
    answer
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().trim().to_string())
        .unwrap_or_default()
}

fn resolve<'v>(doc: &'v Value, reference: &str) -> &'v Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("{reference}: only references inside the document"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} points at nothing"))
}

/// The keywords [`validate`] knows; a schema with any other fails, so that none is ignored.
const KEYWORDS: [&str; 18] = [
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "oneOf",
    "format",
    "minimum",
    "maximum",
    "maxItems",
    "maxLength",
    "contentMediaType",
    "contentSchema",
    "description",
    "default",
    "title",
];

/// JSON Schema (2020-12), the subset the description uses: errors are pushed with where in
/// the value they are.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        errors.push(format!("{at}: the schema {schema} is not an object"));
        return;
    };
    for key in schema.keys() {
        if !KEYWORDS.contains(&key.as_str()) {
            errors.push(format!("{at}: the test does not know the keyword `{key}`"));
        }
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        validate(doc, resolve(doc, reference), value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            other => panic!("type {other}"),
        };
        if !types.iter().any(|t| is_type(value, t)) {
            errors.push(format!("{at}: {} is not of type {types:?}", short(value)));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {} is none of {allowed:?}", short(value)));
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let mut why = Vec::new();
        let matching = options
            .iter()
            .filter(|option| {
                let mut e = Vec::new();
                validate(doc, option, value, at, &mut e);
                why.extend(e.iter().cloned());
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!(
                "{at}: matches {matching} of the oneOf schemas, not 1 ({})",
                why.join("; ")
            ));
        }
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !fields.contains_key(name) {
                        errors.push(format!("{at}: the field `{name}` is missing"));
                    }
                }
            }
            for (name, field) in fields {
                let place = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(sub) => validate(doc, sub, field, &place, errors),
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!("{place}: the field is not in the schema"));
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errors.push(format!("{at}: {} items, more than {max}", items.len()));
            }
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(doc, sub, item, &format!("{at}[{i}]"), errors);
                }
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap();
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                errors.push(format!("{at}: {n} is less than {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                errors.push(format!("{at}: {n} is more than {max}"));
            }
        }
        Value::String(text) => {
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && text.chars().count() as u64 > max
            {
                errors.push(format!("{at}: longer than {max}"));
            }
            match schema.get("format").and_then(Value::as_str) {
                // As every output of callhook writes times: UTC, milliseconds.
                Some("date-time") => {
                    let ok = text.len() == 24
                        && text.ends_with('Z')
                        && chrono::DateTime::parse_from_rfc3339(text).is_ok();
                    if !ok {
                        errors.push(format!("{at}: {text:?} is not RFC 3339 UTC with ms"));
                    }
                }
                Some("uri") if reqwest::Url::parse(text).is_err() => {
                    errors.push(format!("{at}: {text:?} is not a URI"));
                }
                Some("uri") => {}
                Some(other) => errors.push(format!("{at}: the test does not know format {other}")),
                None => {}
            }
            if let Some(inner) = schema.get("contentSchema") {
                assert_eq!(schema["contentMediaType"], "application/json");
                match serde_json::from_str::<Value>(text) {
                    Ok(parsed) => validate(doc, inner, &parsed, &format!("{at}(json)"), errors),
                    Err(e) => errors.push(format!("{at}: not JSON: {e}")),
                }
            }
        }
        _ => {}
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("no JSON type {other}"),
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// The (path, method) of each route in the router's source.
fn router_routes() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for line in ROUTER.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix(".route(\"") else {
            continue;
        };
        let (path, rest) = rest.split_once('"').unwrap();
        let rest = rest.trim_start_matches(',').trim();
        let method = rest.split_once('(').unwrap().0;
        assert!(
            ["get", "post", "put", "patch", "delete"].contains(&method),
            "a route the test cannot read: {line}"
        );
        routes.insert((path.to_string(), method.to_string()));
    }
    assert!(routes.len() > 10, "the routes were not found in mod.rs");
    routes
}

/// Checks of the document itself: the routes, the references, the objects' strictness.
fn check_document(doc: &Value) {
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "callhook");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8765");
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        (&schemes["session"]["in"], &schemes["session"]["name"]),
        (&json!("cookie"), &json!("callhook_session"))
    );

    let described: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let routed = router_routes();
    let missing: Vec<_> = routed.difference(&described).collect();
    let extra: Vec<_> = described.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes not described: {missing:?}; described but not routed: {extra:?}"
    );

    // Every reference resolves, and every object schema is closed, its required fields its own.
    fn walk(doc: &Value, value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    resolve(doc, reference);
                }
                if map.get("type") == Some(&json!("object")) && map.contains_key("properties") {
                    assert_eq!(
                        map.get("additionalProperties"),
                        Some(&json!(false)),
                        "{at}: an object schema must forbid other fields"
                    );
                    let properties = map["properties"].as_object().unwrap();
                    let required = map
                        .get("required")
                        .and_then(Value::as_array)
                        .unwrap_or_else(|| panic!("{at}: an object schema must list `required`"));
                    for name in required {
                        assert!(
                            properties.contains_key(name.as_str().unwrap()),
                            "{at}: required {name} is no property"
                        );
                    }
                }
                for (key, sub) in map {
                    walk(doc, sub, &format!("{at}/{key}"));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(doc, item, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(doc, doc, "#");

    // What the server sends always has every field (absent values are null): the schemas of
    // answers require them all. Only request bodies have optional fields.
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if name.ends_with("Body") {
            continue;
        }
        if let Some(properties) = schema["properties"].as_object() {
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            let all: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
            assert_eq!(
                required, all,
                "{name}: every field of an answer is required"
            );
        }
    }
}

/// The first message of an event stream, as {id, event, data}.
fn first_message(answer: Response) -> Value {
    let mut message = serde_json::Map::new();
    let mut data = Vec::new();
    for line in BufReader::new(answer).lines() {
        let line = line.unwrap();
        if line.is_empty() {
            if !data.is_empty() || !message.is_empty() {
                break;
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => data.push(value.to_string()),
            field => {
                message.insert(field.to_string(), Value::String(value.to_string()));
            }
        }
    }
    message.insert("data".into(), Value::String(data.join("\n")));
    Value::Object(message)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A desk with calls of every kind, a webhook failing to a closed port, popups opened by the
/// recorder, and MicroSIP's program the recorder too.
fn desk_with_calls() -> Desk {
    let desk = Desk::new();
    let recorder = example("recorder");
    let recorder = toml_str(recorder.to_str().unwrap());
    let popups = desk.path("tmp/popups.jsonl");
    let microsip = desk.path("tmp/microsip.jsonl");
    let desk = desk.with_config(&format!(
        "[outbox]\nretries = [\"100ms\"]\n\n\
         [[webhook]]\nname = \"crm\"\nurl = {}\n\n\
         [popup]\nurl = \"https://crm.example.com/?n={{number}}\"\nopener = [{recorder}, {}]\n\n\
         [microsip]\nprogram = [{recorder}, {}]\n",
        toml_str(format!("http://127.0.0.1:{}/hook", closed_port())),
        toml_str(popups.to_str().unwrap()),
        toml_str(microsip.to_str().unwrap()),
    ));
    let start = now_ms() - 3 * 3_600_000;
    let minute = 60_000;
    let long = format!("+1555123{}", "9".repeat(2000));
    let calls: [(&str, &[(i64, &str)]); 9] = [
        ("+15551230001", MISSED),
        (
            "+15551230002",
            &[
                (0, "incoming"),
                (1_000, "ring"),
                (4_000, "answer"),
                (4_100, "start"),
                (64_000, "end"),
            ],
        ),
        (
            "+15551230004",
            &[(0, "outgoing"), (2_000, "start"), (30_000, "end")],
        ),
        ("+15551230005", &[(0, "incoming"), (500, "busy")]),
        (IMG, MISSED),
        (RTL, MISSED),
        (&long, MISSED),
        // Tried to call back, not answered: still to call back, with one try.
        ("+15551230001", &[(0, "outgoing"), (20_000, "end")]),
        // Ringing now.
        ("+15551230006", &[(0, "incoming")]),
    ];
    for (i, (caller, events)) in calls.iter().enumerate() {
        let at = if i == calls.len() - 1 {
            now_ms() - 1_000
        } else {
            start + i as i64 * 10 * minute
        };
        desk.record(at, caller, events);
    }
    wait_until(WAIT, "a webhook delivery to fail", || {
        desk.outbox().iter().any(|d| d["status"] == "failed")
    });
    desk
}

#[test]
fn openapi_describes_every_route_and_answer() {
    let desk = desk_with_calls();
    let serve = desk.serve();
    // reqwest is built without a crypto provider of its own (the program sets up rustls).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // The description: served without credentials, as built, and consistent with the router.
    let answer = http
        .get(format!("{}/api/openapi.json", serve.url))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(content_type(&answer), "application/json");
    let doc: Value = serde_json::from_str(&answer.text().unwrap()).unwrap();
    assert_eq!(doc, serde_json::from_str::<Value>(SOURCE).unwrap());
    check_document(&doc);
    let mut check = Check {
        doc,
        serve: &serve,
        http,
        seen: BTreeSet::new(),
    };
    check.expect(
        200,
        "get",
        "/api/openapi.json",
        "/api/openapi.json",
        Req::anonymous(),
    );

    // The read API.
    let health = check.expect(200, "get", "/api/health", "/api/health", Req::default());
    assert_eq!(health["calls"], 9);
    let all = check.expect(
        200,
        "get",
        "/api/calls",
        "/api/calls?limit=1000",
        Req::default(),
    );
    let calls = all["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 9);
    let statuses: BTreeSet<&str> = calls
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["answered", "busy", "in-progress", "missed", "no-answer"]),
        "the calls cover every status"
    );
    let page = check.expect(
        200,
        "get",
        "/api/calls",
        "/api/calls?limit=2",
        Req::default(),
    );
    let next = page["next"].as_str().expect("a next page").to_string();
    check.expect(
        200,
        "get",
        "/api/calls",
        &format!("/api/calls?limit=2&cursor={next}"),
        Req::default(),
    );
    for uri in [
        "/api/calls?since=7d&until=2100-01-01&number=1230001&status=missed,no-answer&direction=in",
        "/api/calls?direction=out&status=answered",
        "/api/calls?format=json",
    ] {
        check.expect(200, "get", "/api/calls", uri, Req::default());
    }
    let csv = check.expect(
        200,
        "get",
        "/api/calls",
        "/api/calls?format=csv",
        Req::default(),
    );
    assert!(csv.as_str().unwrap().contains("+15551230002"), "{csv}");
    for uri in [
        "/api/calls?bogus=1",
        "/api/calls?limit=0",
        "/api/calls?limit=1001",
        "/api/calls?status=lost",
        "/api/calls?direction=sideways",
        "/api/calls?since=someday",
        "/api/calls?cursor=nope",
        "/api/calls?format=xml",
    ] {
        let body = check.expect(400, "get", "/api/calls", uri, Req::default());
        assert!(body["error"]["code"].is_string(), "{uri}: {body}");
    }

    // Each call, with its events and deliveries; a prefix of several ids; no such call.
    let mut deliveries = 0;
    let mut first_event = None;
    for call in &calls {
        let id = call["id"].as_str().unwrap();
        let detail = check.expect(
            200,
            "get",
            "/api/calls/{id}",
            &format!("/api/calls/{id}"),
            Req::default(),
        );
        assert_eq!(detail["call"], *call);
        deliveries += detail["deliveries"].as_array().unwrap().len();
        if call == calls.last().unwrap() {
            first_event = detail["events"][0]["id"].as_str().map(String::from);
        }
    }
    assert!(deliveries > 0, "no call has deliveries");
    let truncated = calls
        .iter()
        .find(|c| c["raw"].as_str().unwrap().len() > 1000)
        .expect("the long caller");
    let detail = check.expect(
        200,
        "get",
        "/api/calls/{id}",
        &format!("/api/calls/{}", truncated["id"].as_str().unwrap()),
        Req::default(),
    );
    assert_eq!(detail["events"][0]["caller_truncated"], true);
    let body = check.expect(
        400,
        "get",
        "/api/calls/{id}",
        "/api/calls/0",
        Req::default(),
    );
    assert_eq!(body["error"]["code"], "ambiguous_id");
    let body = check.expect(
        404,
        "get",
        "/api/calls/{id}",
        "/api/calls/ffffffff-0000",
        Req::default(),
    );
    assert_eq!(body["error"]["code"], "not_found");

    // Missed calls, and the numbers still to call back.
    let missed = check.expect(200, "get", "/api/missed", "/api/missed", Req::default());
    assert_eq!(missed["calls"].as_array().unwrap().len(), 4);
    for uri in [
        "/api/missed?status=missed&limit=1&since=1d",
        "/api/missed?number=%2B15551230001&direction=in",
    ] {
        check.expect(200, "get", "/api/missed", uri, Req::default());
    }
    let unreturned = check.expect(
        200,
        "get",
        "/api/missed",
        "/api/missed?unreturned",
        Req::default(),
    );
    let rows = unreturned["unreturned"].as_array().unwrap();
    let tried = rows.iter().find(|r| r["number"] == "+15551230001").unwrap();
    assert_eq!(tried["callbacks"], 1);
    check.expect(
        200,
        "get",
        "/api/missed",
        "/api/missed?unreturned=&since=30d&limit=2",
        Req::default(),
    );
    for uri in [
        "/api/missed?format=csv",
        "/api/missed?unreturned&format=csv",
    ] {
        check.expect(200, "get", "/api/missed", uri, Req::default());
    }
    for uri in ["/api/missed?status=answered", "/api/missed?by=day"] {
        check.expect(400, "get", "/api/missed", uri, Req::default());
    }

    // Statistics, overall and grouped every way.
    let stats = check.expect(200, "get", "/api/stats", "/api/stats", Req::default());
    assert_eq!(stats["total"]["calls"], 9);
    for by in ["day", "week", "month", "hour", "weekday", "number"] {
        let stats = check.expect(
            200,
            "get",
            "/api/stats",
            &format!("/api/stats?by={by}&since=30d&until=2100-01-01"),
            Req::default(),
        );
        assert!(!stats["groups"].as_array().unwrap().is_empty(), "{by}");
    }
    check.expect(
        200,
        "get",
        "/api/stats",
        "/api/stats?status=missed&direction=in&number=1230001",
        Req::default(),
    );
    for uri in ["/api/stats?by=year", "/api/stats?limit=5"] {
        check.expect(400, "get", "/api/stats", uri, Req::default());
    }

    // The outbox, and a retry.
    let outbox = check.expect(
        200,
        "get",
        "/api/outbox",
        "/api/outbox?limit=1000",
        Req::default(),
    );
    let rows = outbox["deliveries"].as_array().unwrap().clone();
    let kinds: BTreeSet<&str> = rows.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["popup", "webhook"]));
    for status in ["pending", "delivered", "failed", "stopped", "skipped"] {
        check.expect(
            200,
            "get",
            "/api/outbox",
            &format!("/api/outbox?status={status}&limit=5"),
            Req::default(),
        );
    }
    for uri in [
        "/api/outbox?status=lost",
        "/api/outbox?limit=0",
        "/api/outbox?since=1d",
    ] {
        check.expect(400, "get", "/api/outbox", uri, Req::default());
    }
    let failed = rows.iter().find(|d| d["status"] == "failed").unwrap();
    let retried = check.expect(
        200,
        "post",
        "/api/outbox/{id}/retry",
        &format!("/api/outbox/{}/retry", failed["id"]),
        Req::default(),
    );
    assert_eq!(retried["retried"], 1);
    check.expect(
        404,
        "post",
        "/api/outbox/{id}/retry",
        "/api/outbox/999999/retry",
        Req::default(),
    );

    // The live events: replayed after the first event of the log.
    let first_event = first_event.unwrap();
    let _ = check.check_request("get", "/api/events", "/api/events", &Req::default());
    let answer = check
        .builder("get", "/api/events", &Req::default())
        .header("Last-Event-ID", &first_event)
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    check
        .seen
        .insert(("/api/events".into(), "get".into(), "200".into()));
    let media = check.operation("/api/events", "get")["responses"]["200"]["content"]
        .get(content_type(&answer))
        .unwrap_or_else(|| panic!("the events' content type {}", content_type(&answer)))
        .clone();
    let message = first_message(answer);
    let errors = check.validate(&media["x-itemSchema"], &message);
    assert!(errors.is_empty(), "{message:#}: {}", errors.join("\n"));
    assert_eq!(
        serde_json::from_str::<Value>(message["data"].as_str().unwrap()).unwrap()["type"],
        "call.ring"
    );
    check.expect(401, "get", "/api/events", "/api/events", Req::anonymous());

    // MicroSIP's remote control: `dial` starts the program (the recorder); the others find no
    // MicroSIP.
    let _one = crate::control::one_microsip();
    let result = check.expect(
        200,
        "post",
        "/api/dial",
        "/api/dial",
        Req::body(json!({"number": "+49 (30) 123-45"})),
    );
    assert_eq!(result["result"], "started");
    wait_until(WAIT, "the recorder", || {
        desk.path("tmp/microsip.jsonl").exists()
    });
    for (path, body) in [
        ("/api/answer", json!({})),
        ("/api/hold", json!({})),
        ("/api/hangup", json!({"which": "all"})),
        ("/api/hangup", json!({})),
        ("/api/transfer", json!({"number": "200"})),
        ("/api/dtmf", json!({"digits": "12#"})),
    ] {
        let (status, body) = check.request("post", path, path, Req::body(body));
        assert!(matches!(status, 200 | 409 | 503), "{path}: {status} {body}");
    }
    check.expect(409, "post", "/api/answer", "/api/answer", Req::default());
    for (path, body, code) in [
        (
            "/api/dial",
            json!({"number": "123 /account:1 /password:x"}),
            "invalid_number",
        ),
        ("/api/dial", json!({"number": "<script>"}), "invalid_number"),
        ("/api/dial", json!({"phone": "123"}), "invalid_body"),
        (
            "/api/transfer",
            json!({"number": "msip:answer"}),
            "invalid_number",
        ),
        (
            "/api/dtmf",
            json!({"digits": "1/account:2"}),
            "invalid_number",
        ),
        ("/api/hangup", json!({"which": "sideways"}), "invalid_body"),
    ] {
        let body = check.expect(400, "post", path, path, Req::body(body));
        assert_eq!(body["error"]["code"], code, "{path}");
    }

    // A login link, and the dashboard's pages.
    let login = |check: &mut Check| -> (String, Exchange) {
        let link = check.expect(
            200,
            "post",
            "/api/login-links",
            "/api/login-links",
            Req::default(),
        );
        let code = link["url"]
            .as_str()
            .unwrap()
            .split_once("?code=")
            .unwrap()
            .1
            .to_string();
        let uri = format!("/login?code={code}");
        let exchange = check.raw("get", "/login", &uri, Req::anonymous());
        check.check_answer("get", "/login", &uri, &exchange);
        (uri, exchange)
    };
    let (uri, used) = login(&mut check);
    assert_eq!(used.status, 303);
    // A link works once (a failed attempt, as a guessed code would be).
    check.expect(401, "get", "/login", &uri, Req::anonymous());
    assert_eq!(used.headers["location"], "/");
    let cookie = used.headers["set-cookie"].to_str().unwrap().to_string();
    let session = cookie.split(';').next().unwrap().to_string();
    assert!(session.starts_with("callhook_session="), "{cookie}");
    let with_session = || {
        let mut send = Req::anonymous();
        send.headers.push((COOKIE, &session));
        send
    };
    check.expect(200, "get", "/", "/", with_session());
    check.expect(200, "get", "/api/health", "/api/health", with_session());
    let body = check.expect(403, "post", "/api/dial", "/api/dial", {
        let mut send = with_session();
        send.body = Some(json!({"number": "100"}));
        send
    });
    assert_eq!(body["error"]["code"], "cross_origin");
    let body = check.expect(403, "post", "/api/login-links", "/api/login-links", {
        let mut send = with_session();
        send.headers.push((ORIGIN, &serve.url));
        send
    });
    assert_eq!(body["error"]["code"], "token_required");
    check.expect(303, "post", "/logout", "/logout", with_session());
    check.expect(401, "get", "/", "/", with_session());
    check.expect(401, "get", "/api/health", "/api/health", with_session());
    check.expect(401, "get", "/", "/", Req::anonymous());
    for file in ["app.js", "app.css", "uplot.js", "uplot.css"] {
        check.expect(
            200,
            "get",
            "/assets/{file}",
            &format!("/assets/{file}"),
            Req::anonymous(),
        );
    }
    check.expect(
        404,
        "get",
        "/assets/{file}",
        "/assets/nope.js",
        Req::anonymous(),
    );
    check.expect(400, "get", "/login", "/login", Req::anonymous());

    // The guard's errors: another site, another Host, no or a wrong token.
    let body = check.expect(
        403,
        "get",
        "/api/calls",
        "/api/calls",
        Req {
            headers: vec![(ORIGIN, "http://evil.example")],
            ..Req::default()
        },
    );
    assert_eq!(body["error"]["code"], "cross_origin");
    let port = serve.url.rsplit(':').next().unwrap();
    let rebound = format!("evil.example:{port}");
    for (template, method) in [
        ("/api/calls", "get"),
        ("/api/dial", "post"),
        ("/", "get"),
        ("/api/openapi.json", "get"),
    ] {
        let body = check.expect(
            421,
            method,
            template,
            template,
            Req {
                headers: vec![(HOST, &rebound)],
                ..Req::default()
            },
        );
        assert_eq!(body["error"]["code"], "host_not_allowed", "{template}");
    }
    let body = check.expect(401, "get", "/api/calls", "/api/calls", Req::anonymous());
    assert_eq!(body["error"]["code"], "unauthorized");
    check.expect(401, "post", "/api/dial", "/api/dial", {
        let mut send = Req::anonymous();
        send.body = Some(json!({"number": "100"}));
        send
    });
    // Wrong tokens, until the address is refused for a minute (last: it stays refused).
    let mut status = 0;
    for _ in 0..20 {
        let (got, body) = check.request(
            "get",
            "/api/calls",
            "/api/calls",
            Req {
                headers: vec![(reqwest::header::AUTHORIZATION, "Bearer chk_wrong")],
                anonymous: true,
                ..Req::default()
            },
        );
        status = got;
        if got == 429 {
            assert_eq!(body["error"]["code"], "too_many_attempts");
            break;
        }
        assert_eq!(got, 401, "{body}");
    }
    assert_eq!(status, 429);
    check.expect(429, "get", "/api/health", "/api/health", Req::default());
    check.expect(429, "get", "/login", "/login?code=x", Req::anonymous());

    // Which described answers were seen, for whoever changes the description.
    let mut unseen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, item) in check.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in op["responses"].as_object().unwrap().keys() {
                if !check
                    .seen
                    .contains(&(path.clone(), method.clone(), status.clone()))
                {
                    unseen
                        .entry(format!("{method} {path}"))
                        .or_default()
                        .push(status.clone());
                }
            }
        }
    }
    println!("described answers not exercised: {unseen:?}");
}
