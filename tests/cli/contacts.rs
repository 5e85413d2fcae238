//! Caller names from MicroSIP's contacts and the configured files, read by the worker and kept
//! up to date. Installs here pass --force, as in `install`.

use std::path::Path;

use serde_json::Value;

use crate::ini::*;
use crate::support::*;

#[test]
fn caller_names_come_from_the_contacts() {
    let desk = Desk::new();
    let xml = desk.path("MicroSIP/Contacts.xml");
    std::fs::create_dir_all(xml.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join("contacts-3.22.3.xml"), &xml).unwrap();
    let csv = desk.path("names.csv");
    std::fs::write(&csv, "number,name\r\n+4930222,Zoë from the CSV\r\n").unwrap();
    let record = desk.path("tmp/popups.jsonl");
    let desk = desk.with_config(&format!(
        "[contacts]\nxml = {}\ncsv = {}\n\n[popup]\nurl = \"https://crm.example.com/?who={{name}}\"\nopener = [{}, {}]\n",
        toml_str(xml.to_str().unwrap()),
        toml_str(csv.to_str().unwrap()),
        toml_str(example("recorder").to_str().unwrap()),
        toml_str(record.to_str().unwrap()),
    ));
    for caller in [
        "100",
        "+4930111",
        "+4930222",
        "+81312345678",
        "+15550001",
        "555",
    ] {
        assert_stored(&desk.event("incoming", caller));
    }
    // The files are read by the worker the first hook started (not by the hook, which
    // MicroSIP waits for); it names the calls stored meanwhile.
    let want = [
        Value::from("Alice Example"),
        Value::from("Alice Example"),
        Value::from("Zoë from the CSV"),
        Value::from("佐藤 花子"),
        Value::from("Grace Hopper"),
        Value::Null,
    ];
    let names = || -> Vec<Value> { desk.calls().iter().map(|c| c["name"].clone()).collect() };
    wait_until(std::time::Duration::from_secs(30), "the names", || {
        names() == want
    });
    wait_until(std::time::Duration::from_secs(30), "the popups", || {
        json_lines(&record).len() == 6
    });
    let urls: Vec<String> = json_lines(&record)
        .iter()
        .map(|r| r["args"][0].as_str().unwrap().to_string())
        .collect();
    assert!(
        urls.contains(&"https://crm.example.com/?who=Alice%20Example".to_string()),
        "{urls:?}"
    );
    // A changed file is read again after the next event, and the new name reaches the popup.
    std::fs::write(&csv, "+4930222,Zoe (new)\n555,Five Five\n").unwrap();
    // A new call from 555, seconds later (not a repeat of its first).
    let now = chrono::Utc::now().timestamp_millis();
    assert_stored(&desk.event_at(now + 5_000, "end", "555"));
    assert_stored(&desk.event_at(now + 6_000, "incoming", "555"));
    wait_until(std::time::Duration::from_secs(30), "the new name", || {
        desk.calls().last().unwrap()["name"] == "Five Five"
    });
    wait_until(std::time::Duration::from_secs(30), "the popup", || {
        json_lines(&record).len() == 7
    });
    let last = json_lines(&record).last().unwrap()["args"][0].clone();
    assert_eq!(last, "https://crm.example.com/?who=Five%20Five");
}

#[test]
fn caller_names_come_from_the_contacts_next_to_the_hooked_ini() {
    let desk = Desk::new();
    // A portable MicroSIP, away from %APPDATA%: its Contacts.xml is beside its ini.
    let ini = copy_fixture(&desk, "microsip-utf16le.ini");
    std::fs::copy(
        Path::new(FIXTURES).join("contacts-3.19.xml"),
        ini.with_file_name("Contacts.xml"),
    )
    .unwrap();
    // The installed MicroSIP's, which is not the one in use.
    let appdata = desk.path("home/AppData/Roaming/MicroSIP");
    std::fs::create_dir_all(&appdata).unwrap();
    std::fs::write(
        appdata.join("Contacts.xml"),
        r#"<contacts><contact name="Installed one" number="777" phone="888" mobile="999"/></contacts>"#,
    )
    .unwrap();
    // Each number once: events of a number close together fold into one call.
    let name_of = |desk: &Desk, number: &str| {
        assert_stored(&desk.event("incoming", number));
        assert_stored(&desk.event("end", number));
        // A changed file is read by the worker the hook started (then it lets the contacts
        // lane go), or by this one, and the call named.
        wait_until(std::time::Duration::from_secs(30), "the contacts", || {
            desk.count("SELECT count(*) FROM worker_leases WHERE lane = 'contacts'") == 0
        });
        desk.run(&["deliver"]);
        desk.calls()
            .iter()
            .rev()
            .find(|c| c["number"] == number)
            .unwrap()["name"]
            .clone()
    };
    assert_eq!(
        name_of(&desk, "777"),
        "Installed one",
        "before install: %APPDATA%"
    );

    let report = desk.run(&["install", "--force", "--ini", ini.to_str().unwrap()]);
    assert!(report.contains("Caller names: from"), "{report}");
    assert_eq!(name_of(&desk, "100"), "Alice Example", "{report}");
    assert_eq!(
        name_of(&desk, "999"),
        Value::Null,
        "the other file's names are gone"
    );
    let (_, doctor) = doctor_of(&desk, Path::new(BIN), &ini);
    assert!(doctor.contains("next to the microsip.ini"), "{doctor}");

    // The config's file still wins.
    let configured = desk.path("other.xml");
    std::fs::write(
        &configured,
        r#"<contacts><contact name="From the config" number="555"/></contacts>"#,
    )
    .unwrap();
    let desk = desk.with_config(&format!(
        "[contacts]\nxml = {}\n",
        toml_str(configured.to_str().unwrap())
    ));
    assert_eq!(name_of(&desk, "555"), "From the config");
    assert_eq!(name_of(&desk, "+4930123456"), Value::Null);
    std::fs::remove_file(&desk.config).unwrap();

    // Uninstalled: back to %APPDATA%.
    desk.run(&["uninstall", "--force", "--ini", ini.to_str().unwrap()]);
    assert_eq!(name_of(&desk, "888"), "Installed one");
}

#[test]
fn a_contacts_file_that_goes_away_takes_its_names_with_it() {
    let desk = Desk::new();
    let appdata = desk.path("home/AppData/Roaming/MicroSIP");
    std::fs::create_dir_all(&appdata).unwrap();
    let xml = appdata.join("Contacts.xml");
    std::fs::write(
        &xml,
        r#"<contacts><contact name="Ann" number="777"/></contacts>"#,
    )
    .unwrap();
    let sources = || desk.count("SELECT count(*) FROM contact_sources");
    assert_stored(&desk.event("incoming", "1"));
    wait_until(std::time::Duration::from_secs(30), "the names", || {
        sources() == 1
    });
    std::fs::remove_file(&xml).unwrap();
    assert_stored(&desk.event("incoming", "2"));
    wait_until(
        std::time::Duration::from_secs(30),
        "the names to go",
        || sources() == 0,
    );
    assert_eq!(desk.count("SELECT count(*) FROM contacts"), 0);
}
