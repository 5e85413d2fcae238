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

/// The microsip.exe to start: the portable one whose ini [`find_ini`] finds, else one where
/// installers put it.
pub fn program() -> Option<PathBuf> {
    if let Ok((ini, Layout::Portable)) = find_ini(None) {
        let exe = ini.with_extension("exe");
        if exe.is_file() {
            return Some(exe);
        }
    }
    known_exes().into_iter().next()
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

/// The names a MicroSIP for this ini runs under: `microsip.exe`, and a portable MicroSIP's own
/// name when the ini is named after an exe beside it (MicroSIP reads `<exe base name>.ini`).
pub fn exe_names(ini: Option<&Path>) -> Vec<String> {
    let mut names = vec!["microsip.exe".to_string()];
    if let Some(ini) = ini
        && let Some(stem) = ini.file_stem().and_then(|s| s.to_str())
    {
        let name = format!("{stem}.exe");
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&name))
            && ini.with_extension("exe").is_file()
        {
            names.push(name);
        }
    }
    names
}

/// The running MicroSIP processes of the current user, by their executables (`None` for one
/// whose path cannot be read). Empty when none runs.
pub fn running() -> Vec<Option<PathBuf>> {
    crate::platform::processes_named(&exe_names(None))
}

/// The same, also under the name of the portable MicroSIP that uses `ini`.
pub fn running_for(ini: &Path) -> Vec<Option<PathBuf>> {
    crate::platform::processes_named(&exe_names(Some(ini)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portable_microsip_may_have_another_name() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("Softphone.ini");
        assert_eq!(exe_names(Some(&ini)), ["microsip.exe"]);
        std::fs::write(dir.path().join("Softphone.exe"), b"MZ").unwrap();
        assert_eq!(exe_names(Some(&ini)), ["microsip.exe", "Softphone.exe"]);
        std::fs::write(dir.path().join("microsip.exe"), b"MZ").unwrap();
        assert_eq!(
            exe_names(Some(&dir.path().join("MicroSIP.ini"))),
            ["microsip.exe"]
        );
        assert_eq!(exe_names(None), ["microsip.exe"]);
    }
}
