//! `--import-profile`: the running kernel's state table, probed on a boot,
//! as a TOML profile; and loading such a profile and comparing it with a
//! built-in one.

use super::{Limits, Plan, pieces, run_raw};

/// `--import-profile`: the running kernel's state table, as TOML. Names
/// and numbers come from `hotplug/states`; whether a state has a startup or
/// a teardown callback is probed with the fail knob on cpu1 (a rejected arm
/// means no callbacks, an arm that is still there after the operation means
/// none in that direction). The knob cannot probe the STARTING/DYING
/// section, `cant_stop` or multi-instance states: those come from the
/// built-in profile of the same kernel series, and the file says so.
pub fn import_profile(p: &pieces::Pieces, limits: Limits) -> Result<String, String> {
    let plan = Plan { cpu: Some(1), ..Plan::default() };
    let con = run_raw(p, &plan, limits)?;
    let lines = &con.lines;
    let mut states: Vec<(i64, String)> = Vec::new();
    let mut probes: std::collections::BTreeMap<(i64, bool), (String, String)> = std::collections::BTreeMap::new();
    for l in lines {
        if let Some(r) = l.strip_prefix("@@STATE ") {
            let (n, name) = r.split_once(' ').ok_or_else(|| con.failure(&format!("malformed `{l}`")))?;
            states.push((n.parse().map_err(|_| con.failure(&format!("malformed `{l}`")))?, name.to_string()));
        } else if let Some(r) = l.strip_prefix("@@R ") {
            let f: Vec<&str> = r.split_whitespace().collect();
            if f.len() == 7
                && let Ok(x) = f[0].parse::<i64>()
            {
                probes.insert((x, f[1] == "up"), (f[2].to_string(), f[6].to_string()));
            }
        }
    }
    if states.is_empty() {
        return Err(con.failure("the guest listed no states"));
    }
    Ok(profile_text(&p.version, &states, &probes))
}

/// The imported profile's text.
fn profile_text(
    kernel: &str,
    states: &[(i64, String)],
    probes: &std::collections::BTreeMap<(i64, bool), (String, String)>,
) -> String {
    let builtin = crate::kernel::cpuhotplug::Profile::builtin("debian-6.1").expect("the built-in profile");
    let mut out = format!(
        "# Imported by `hotplug-fi oracle --import-profile` from {kernel}.\n\
         # names and numbers: /sys/devices/system/cpu/hotplug/states; startup/teardown with\n\
         # source = \"probed\": the fail knob on cpu1 probed both callbacks; \"startup probed\" or\n\
         # \"teardown probed\": one (the knob refuses to arm a PREPARE state on an online CPU, so\n\
         # their teardowns are not probed); \"built-in\": the knob cannot probe the state\n\
         # (STARTING/DYING, core states), so the debian-6.1 profile's knowledge is kept.\nname = \"imported\"\nkernel = \"{kernel}\"\n"
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
        out.push_str(&format!("\n[[state]]\nnr = {nr}\nname = \"{name}\"\nstartup = {startup}\nteardown = {teardown}\nsource = \"{source}\"\n"));
    }
    out
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
