//! Where MicroSIP is: its ini (next to microsip.exe when portable, else in
//! `%APPDATA%\MicroSIP`), and whether it is running.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// How the ini was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Given with `--ini`.
    Given,
    /// Next to microsip.exe: the portable version.
    Portable,
    /// `%APPDATA%\MicroSIP\microsip.ini`: the installed version.
    Installed,
}

impl Layout {
    pub fn describe(self) -> &'static str {
        match self {
            Layout::Given => "given with --ini",
            Layout::Portable => "portable MicroSIP: next to microsip.exe",
            Layout::Installed => "installed MicroSIP: in %APPDATA%\\MicroSIP",
        }
    }
}

/// The ini MicroSIP uses. A portable MicroSIP (an ini next to its exe, named after it) wins
/// over the installed one, as MicroSIP itself decides.
pub fn find_ini(given: Option<&Path>) -> Result<(PathBuf, Layout)> {
    if let Some(path) = given {
        return Ok((path.to_path_buf(), Layout::Given));
    }
    let mut looked = Vec::new();
    for exe in running().into_iter().flatten().chain(known_exes()) {
        let ini = exe.with_extension("ini");
        if ini.is_file() {
            return Ok((ini, Layout::Portable));
        }
        looked.push(ini);
    }
    if let Some(appdata) = std::env::var_os("APPDATA") {
        let ini = Path::new(&appdata).join("MicroSIP").join("microsip.ini");
        if ini.is_file() {
            return Ok((ini, Layout::Installed));
        }
        looked.push(ini);
    }
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    bail!(
        "cannot find microsip.ini (looked at: {}); start MicroSIP once so that it writes \
         its ini, or pass --ini PATH",
        if looked.is_empty() {
            "nowhere to look".to_string()
        } else {
            looked.join(", ")
        }
    )
}

/// microsip.exe where installers put it.
fn known_exes() -> Vec<PathBuf> {
    ["ProgramFiles", "ProgramFiles(x86)", "LOCALAPPDATA"]
        .iter()
        .filter_map(std::env::var_os)
        .map(|dir| Path::new(&dir).join("MicroSIP").join("microsip.exe"))
        .filter(|exe| exe.is_file())
        .collect()
}

/// The running MicroSIP processes, by their executables (`None` for one whose path cannot be
/// read). Empty when none runs.
#[cfg(windows)]
pub fn running() -> Vec<Option<PathBuf>> {
    crate::windows::processes_named("microsip.exe")
}

/// Outside Windows MicroSIP runs only under wine, where its process is named microsip.exe.
#[cfg(not(windows))]
pub fn running() -> Vec<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|comm| comm.trim().eq_ignore_ascii_case("microsip.exe"))
        })
        .map(|_| None)
        .collect()
}
