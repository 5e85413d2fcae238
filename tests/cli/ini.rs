//! microsip.ini as MicroSIP keeps it: the fixtures, their encodings, the hook keys, and the
//! programs install points them at.

use std::path::{Path, PathBuf};

use crate::support::*;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/microsip");

pub const EVENTS: [(&str, &str); 8] = [
    ("cmdIncomingCall", "incoming"),
    ("cmdCallRing", "ring"),
    ("cmdOutgoingCall", "outgoing"),
    ("cmdCallAnswer", "answer"),
    ("cmdCallAnswerVideo", "answer-video"),
    ("cmdCallStart", "start"),
    ("cmdCallBusy", "busy"),
    ("cmdCallEnd", "end"),
];

/// The hook program install points MicroSIP at: callhookw beside callhook.
pub fn hook_program() -> PathBuf {
    std::path::absolute(
        Path::new(BIN).with_file_name(format!("callhookw{}", std::env::consts::EXE_SUFFIX)),
    )
    .unwrap()
}

/// The text of an ini in whatever encoding it has (for assertions).
pub fn text(bytes: &[u8]) -> String {
    match bytes {
        [0xff, 0xfe, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        [0xef, 0xbb, 0xbf, rest @ ..] => String::from_utf8(rest.to_vec()).unwrap(),
        _ => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// The value of the first line of `key` (spacing around `=` and the value ignored).
pub fn value_of(ini: &str, key: &str) -> Option<String> {
    ini.lines().find_map(|l| {
        let (name, value) = l.split_once('=')?;
        (name.trim() == key).then(|| value.trim().to_string())
    })
}

/// callhook and callhookw, copied into `dir` as an admin installs them.
pub fn install_programs(dir: &Path) {
    let exe = std::env::consts::EXE_SUFFIX;
    for name in ["callhook", "callhookw"] {
        let file = format!("{name}{exe}");
        std::fs::copy(Path::new(BIN).with_file_name(&file), dir.join(&file)).unwrap();
    }
}

pub fn copy_fixture(desk: &Desk, name: &str) -> PathBuf {
    let ini = desk.path("MicroSIP/microsip.ini");
    std::fs::create_dir_all(ini.parent().unwrap()).unwrap();
    std::fs::copy(Path::new(FIXTURES).join(name), &ini).unwrap();
    ini
}

pub fn backups(ini: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(ini.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("callhook-backup"))
        .collect()
}

/// `callhook doctor --ini <ini>` run by `program`: (success, report).
pub fn doctor_of(desk: &Desk, program: &Path, ini: &Path) -> (bool, String) {
    let out = output(desk.command_for(program).args(["doctor", "--ini"]).arg(ini));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// An ini as MicroSIP writes it: UTF-16LE with a BOM, CRLF.
pub fn write_utf16(path: &Path, lines: &[String]) {
    std::fs::write(path, utf16(&(lines.join("\r\n") + "\r\n"))).unwrap();
}

/// Text as MicroSIP writes its ini: UTF-16LE with a BOM.
pub fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}
