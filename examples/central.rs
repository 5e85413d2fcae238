//! A throw-away central for trying team mode, for the benchmarks and for the Windows desk
//! tested under wine (ci/windows.sh): a private PostgreSQL cluster and a real `callhook serve`
//! on it, with desks added.
//!
//! central [--durable] CALLHOOK DIR DESK...
//!     Starts the cluster and `CALLHOOK serve` (its config in DIR), adds each DESK, prints one
//!     JSON object `{"url", "token", "database", "desks": {"NAME": "whsk_…"}}` on a line, and
//!     runs until stdin closes; then stops both and removes the cluster. The cluster syncs
//!     nothing, unless `--durable`: then it syncs as PostgreSQL does by default.

#[cfg(unix)]
fn main() {
    use std::io::{BufRead, BufReader, Read};
    use std::path::Path;
    use std::process::{Command, Stdio};

    use callhook::central::cluster::Cluster;

    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let durable = args.first().is_some_and(|a| a == "--durable");
    if durable {
        args.remove(0);
    }
    if args.len() < 2 {
        eprintln!("usage: central [--durable] CALLHOOK DIR DESK...");
        std::process::exit(2);
    }
    let (program, dir, desks) = (&args[0], Path::new(&args[1]), &args[2..]);
    let cluster = if durable {
        Cluster::start_durable()
    } else {
        Cluster::start()
    }
    .expect("a PostgreSQL cluster");
    let database = cluster.create_database("team").expect("a database");
    std::fs::create_dir_all(dir).expect("DIR");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[central]\ndatabase = {}\n",
            toml::Value::String(database.clone())
        ),
    )
    .expect("the config");
    let run = |args: &[&str]| {
        let out = Command::new(program)
            .args(args)
            .env("CALLHOOK_CONFIG", &config)
            .env("CALLHOOK_DB", dir.join("unused.db"))
            .output()
            .expect("callhook");
        assert!(
            out.status.success(),
            "callhook {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let mut server = Command::new(program)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CALLHOOK_CONFIG", &config)
        .env("CALLHOOK_DB", dir.join("unused.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("callhook serve");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("serve's address").expect("a line");
    let url = first
        .strip_prefix("callhook serve: ")
        .expect("serve's address")
        .to_string();
    std::thread::spawn(move || lines.for_each(drop));
    let token = std::fs::read_to_string(dir.join("serve-token"))
        .expect("the token")
        .trim()
        .to_string();
    let mut keys = serde_json::Map::new();
    for desk in desks {
        let block = run(&["central", "add-desk", desk, "--url", &url]);
        let key = block
            .lines()
            .find_map(|l| l.strip_prefix("key = "))
            .expect("a key")
            .trim_matches('"')
            .to_string();
        keys.insert(desk.clone(), key.into());
    }
    println!(
        "{}",
        serde_json::json!({"url": url, "token": token, "database": database, "desks": keys})
    );
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    let _ = server.kill();
    let _ = server.wait();
    drop(cluster);
}

#[cfg(not(unix))]
fn main() {
    eprintln!("central runs where PostgreSQL's programs are: on Linux");
    std::process::exit(2);
}
