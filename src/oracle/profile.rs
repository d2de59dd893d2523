//! `--import-profile`: the running kernel's state table, probed on a boot,
//! as a TOML profile; and loading such a profile and comparing it with a
//! built-in one. The file is written only once its text parses and holds a
//! plausible table ([`Imported::check`]), through a temporary file in the
//! same directory renamed over the target, so a failed import leaves the
//! target as it was.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::{Limits, Plan, pieces, run_raw};

/// The probe results: (state, up) → (the `fail` write's result, `fail`
/// after the operation).
type Probes = BTreeMap<(i64, bool), (String, String)>;

/// The running kernel's state table, as TOML. Names and numbers come from
/// `hotplug/states`; whether a state has a startup or a teardown callback
/// is probed with the fail knob on cpu1 (a rejected arm means no
/// callbacks, an arm that is still there after the operation means none in
/// that direction). The knob cannot probe the STARTING/DYING section,
/// `cant_stop` or multi-instance states: those come from the built-in
/// profile of the same kernel series, and the file says so.
pub fn import_profile(p: &pieces::Pieces, limits: Limits) -> Result<String, String> {
    let plan = Plan { cpu: Some(1), ..Plan::default() };
    let con = run_raw(p, &plan, limits)?;
    let (states, probes) = parse_probes(&con.lines).map_err(|e| con.failure(&e))?;
    if states.is_empty() {
        return Err(con.failure("the guest listed no states"));
    }
    Ok(profile_text(&p.version, &states, &probes))
}

/// The `@@STATE` and `@@R` lines of a probing boot.
fn parse_probes(lines: &[String]) -> Result<(Vec<(i64, String)>, Probes), String> {
    let mut states = Vec::new();
    let mut probes = Probes::new();
    for l in lines {
        if let Some(r) = l.strip_prefix("@@STATE ") {
            let (n, name) = r.split_once(' ').ok_or_else(|| format!("malformed `{l}`"))?;
            states.push((n.parse().map_err(|_| format!("malformed `{l}`"))?, name.to_string()));
        } else if let Some(r) = l.strip_prefix("@@R ") {
            let f: Vec<&str> = r.split_whitespace().collect();
            if f.len() == 7
                && let Ok(x) = f[0].parse::<i64>()
            {
                probes.insert((x, f[1] == "up"), (f[2].to_string(), f[6].to_string()));
            }
        }
    }
    Ok((states, probes))
}

/// The imported profile's text; every string from the guest or the user is
/// a TOML string, and a comment holds no line break.
fn profile_text(kernel: &str, states: &[(i64, String)], probes: &Probes) -> String {
    let builtin = crate::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("the built-in profile");
    let mut out = format!(
        "# Imported by `hotplug-fi oracle --import-profile` from {}.\n\
         # names and numbers: /sys/devices/system/cpu/hotplug/states; startup/teardown with\n\
         # source = \"probed\": the fail knob on cpu1 probed both callbacks; \"startup probed\" or\n\
         # \"teardown probed\": one (the knob refuses to arm a PREPARE state on an online CPU, so\n\
         # their teardowns are not probed); \"built-in\": the knob cannot probe the state\n\
         # (STARTING/DYING, core states), so the debian-6.1 profile's knowledge is kept.\nname = \"imported\"\nkernel = {}\n",
        kernel.replace(|c: char| c.is_control(), " "),
        toml_string(kernel)
    );
    for (nr, name) in states {
        let probed = |up: bool| match probes.get(&(*nr, up)) {
            Some((set, after)) if set == "OK" => Some(after != &nr.to_string()),
            _ => None,
        };
        let known = builtin.steps.iter().find(|st| i64::from(st.nr) == *nr);
        let startup = probed(true).unwrap_or_else(|| known.is_some_and(|k| k.startup.is_some()));
        let teardown = probed(false).unwrap_or_else(|| known.is_some_and(|k| k.teardown.is_some()));
        let source = match (probed(true).is_some(), probed(false).is_some()) {
            (true, true) => "probed",
            (true, false) => "startup probed",
            (false, true) => "teardown probed",
            (false, false) => "built-in",
        };
        let name = toml_string(name);
        out.push_str(&format!(
            "\n[[state]]\nnr = {nr}\nname = {name}\nstartup = {startup}\nteardown = {teardown}\nsource = \"{source}\"\n"
        ));
    }
    out
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks that `file` can be written to (its directory exists), before a
/// boot spends a minute on the import.
pub fn check_target(file: &Path) -> Result<(), String> {
    let dir = parent(file);
    if std::fs::metadata(dir).is_ok_and(|m| m.is_dir()) && !file.is_dir() {
        Ok(())
    } else {
        Err(format!("--import-profile {}: {} is not a directory to write it in", file.display(), dir.display()))
    }
}

fn parent(file: &Path) -> &Path {
    file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Writes an imported profile's text to `file` once it parses and passes
/// [`Imported::check`]: into a temporary file beside it, renamed over it.
/// On any error `file` is as it was.
pub fn write_profile(file: &Path, text: &str) -> Result<Imported, String> {
    let imported =
        Imported::parse(text).map_err(|e| format!("the imported profile does not parse, not written: {e}"))?;
    imported.check().map_err(|e| format!("the imported profile is not a state table, not written: {e}"))?;
    let what = |e: std::io::Error| format!("{}: {e}", file.display());
    // 0o666 less the umask, as `fs::write` would create it (a temporary file is 0o600).
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o666);
    let mut tmp =
        tempfile::Builder::new().prefix(".import-").permissions(mode).tempfile_in(parent(file)).map_err(what)?;
    tmp.write_all(text.as_bytes()).and_then(|_| tmp.as_file().sync_all()).map_err(what)?;
    tmp.persist(file).map_err(|e| what(e.error))?;
    Ok(imported)
}

/// One state of an imported profile.
#[derive(Clone, Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImportedState {
    pub nr: u16,
    pub name: String,
    pub startup: bool,
    pub teardown: bool,
    pub source: String,
}

/// An imported profile, loaded.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Imported {
    pub name: String,
    pub kernel: String,
    pub state: Vec<ImportedState>,
}

impl Imported {
    pub fn parse(text: &str) -> Result<Imported, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// A plausible state table: some states, numbered in rising order,
    /// each named, each with one of the sources the importer writes.
    pub fn check(&self) -> Result<(), String> {
        const SOURCES: [&str; 4] = ["probed", "startup probed", "teardown probed", "built-in"];
        if self.state.is_empty() {
            return Err("it lists no state".into());
        }
        if let Some(w) = self.state.windows(2).find(|w| w[0].nr >= w[1].nr) {
            return Err(format!("state {} follows state {}: the numbers must rise", w[1].nr, w[0].nr));
        }
        if let Some(s) = self.state.iter().find(|s| s.name.trim().is_empty()) {
            return Err(format!("state {} has no name", s.nr));
        }
        match self.state.iter().find(|s| !SOURCES.contains(&s.source.as_str())) {
            Some(s) => Err(format!("state {}: source `{}`, expected one of {}", s.nr, s.source, SOURCES.join(", "))),
            None => Ok(()),
        }
    }

    /// Where a built-in profile differs from it: one line per difference.
    pub fn differences(&self, p: &crate::kernel::cpuhotplug::Profile) -> Vec<String> {
        let mut d = Vec::new();
        for s in &self.state {
            match p.steps.iter().find(|st| st.nr == s.nr) {
                None => d.push(format!("state {} `{}` is not in {}", s.nr, s.name, p.name)),
                Some(st) => {
                    if st.name != s.name {
                        d.push(format!(
                            "state {}: named `{}` in the kernel, `{}` in {}",
                            s.nr, s.name, st.name, p.name
                        ));
                    }
                    if (st.startup.is_some(), st.teardown.is_some()) != (s.startup, s.teardown) {
                        d.push(format!(
                            "state {} `{}`: startup/teardown {}/{} in the kernel ({}), {}/{} in {}",
                            s.nr,
                            s.name,
                            s.startup,
                            s.teardown,
                            s.source,
                            st.startup.is_some(),
                            st.teardown.is_some(),
                            p.name
                        ));
                    }
                }
            }
        }
        for st in &p.steps {
            if !self.state.iter().any(|s| s.nr == st.nr) {
                d.push(format!("state {} `{}` of {} is not in the kernel's list", st.nr, st.name, p.name));
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_from_the_guest_stay_toml_strings() {
        let states = vec![(0, "off\"line\nname = \"x".to_string()), (1, "a\\b".to_string())];
        let text = profile_text("/tmp/k\"\n#x", &states, &Probes::new());
        let imported = Imported::parse(&text).expect("the text parses");
        assert_eq!(imported.kernel, "/tmp/k\"\n#x");
        assert_eq!(imported.state[0].name, states[0].1);
        assert_eq!(imported.state[1].name, "a\\b");
        assert_eq!(imported.check(), Ok(()));
    }
}
