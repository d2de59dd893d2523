//! Resolving state names and failpoint site names in case files.
//!
//! A state may be written as its number (`197`), its step name
//! (`workqueue:online`) or its enum name (`CPUHP_AP_WORKQUEUE_ONLINE`); all
//! three resolve to the same number. A site is
//! `cpuhp/cpu<N>/<up|down>/<state>[/inst<K>]`, a call inside a callback's
//! body `cpuhp/cpu<N>/<up|down>/<state>/<callee>`, or `smp/cpu<N>/ipi`.

use crate::fault::{AcpiStep, Callee, MemStep, Site};
use crate::kernel::cpuhotplug::{Profile, State};

use super::limits::BLOCKS_MAX;

/// Resolves a state written by number, step name or enum name.
pub fn resolve_state(profile: &Profile, text: &str) -> Result<State, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        if (0..=profile.a.online as i64).contains(&n) {
            return Ok(n as State);
        }
        return Err(format!("state {n} is out of range; expected 0 to {} (CPUHP_ONLINE)", profile.a.online));
    }
    if let Some(&s) = profile.enums.get(t) {
        return Ok(s);
    }
    if let Some(p) = profile.steps.iter().find(|p| p.name == t) {
        return Ok(p.nr);
    }
    let mut msg = format!(
        "unknown state `{t}`; expected a number 0 to {}, an enum name such as CPUHP_AP_WORKQUEUE_ONLINE, or a step name such as workqueue:online (profile {})",
        profile.a.online, profile.name
    );
    if let Some(near) =
        nearest(t, profile.enums.keys().map(String::as_str).chain(profile.steps.iter().map(|p| p.name.as_str())))
    {
        msg.push_str(&format!("; did you mean `{near}`?"));
    }
    Err(msg)
}

/// Parses a site name, resolving the state part.
pub fn parse_site(profile: &Profile, cpus: usize, text: &str) -> Result<Site, String> {
    const FORM: &str = "expected cpuhp/cpu<N>/<up|down>/<state>[/inst<K>], such as cpuhp/cpu1/down/workqueue:online, cpuhp/cpu<N>/<up|down>/<state>/<callee> (callee dl_bw_check_overflow, kthread_create_on_cpu, zalloc_cpumask_var_node or alloc_percpu), smp/cpu<N>/ipi, memory/memory<N>/<online|offline>/<step>, or acpi/cpu<N>/hot_add/<acpi_map_cpu|register_cpu>";
    if let Some(rest) = text.strip_prefix("memory/") {
        return parse_memory_site(text, rest);
    }
    if let Some(rest) = text.strip_prefix("acpi/") {
        return parse_acpi_site(text, rest, cpus);
    }
    if let Some(rest) = text.strip_prefix("smp/") {
        let cpu = rest
            .strip_prefix("cpu")
            .and_then(|r| r.strip_suffix("/ipi"))
            .and_then(|c| c.parse::<usize>().ok())
            .ok_or_else(|| format!("unknown site `{text}`; {FORM}"))?;
        if cpu >= cpus {
            return Err(format!("site `{text}` names CPU{cpu}, but the machine has CPUs 0 to {}", cpus - 1));
        }
        return Ok(Site::Ipi { cpu: cpu as u16 });
    }
    let rest = text.strip_prefix("cpuhp/").ok_or_else(|| format!("unknown site `{text}`; {FORM}"))?;
    let (cpu, rest) = rest.split_once('/').ok_or_else(|| format!("incomplete site `{text}`; {FORM}"))?;
    let cpu: usize = cpu
        .strip_prefix("cpu")
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("`{cpu}` in site `{text}` is not cpu<N>; {FORM}"))?;
    if cpu >= cpus {
        return Err(format!("site `{text}` names CPU{cpu}, but the machine has CPUs 0 to {}", cpus - 1));
    }
    let (dir, rest) = rest.split_once('/').ok_or_else(|| format!("incomplete site `{text}`; {FORM}"))?;
    let bringup = match dir {
        "up" => true,
        "down" => false,
        _ => {
            return Err(format!("direction `{dir}` in site `{text}` is not `up` or `down`"));
        }
    };
    if let Some((state, last)) = rest.rsplit_once('/')
        && let Some(&callee) = Callee::ALL.iter().find(|c| c.name() == last)
    {
        let state = resolve_state(profile, state)?;
        return Ok(Site::Callee { cpu: cpu as u16, bringup, state, callee });
    }
    let (state, inst) = split_inst(rest);
    let state = resolve_state(profile, state)?;
    Ok(Site::Cpuhp { cpu: cpu as u16, bringup, state, inst })
}

/// `memory/memory<N>/<online|offline>/<step>`.
fn parse_memory_site(text: &str, rest: &str) -> Result<Site, String> {
    let steps: Vec<String> = MemStep::ALL
        .iter()
        .map(|s| format!("{}/{}", if s.online() { "online" } else { "offline" }, s.name()))
        .collect();
    let form = format!("expected memory/memory<N>/<step> with <step> one of {}", steps.join(", "));
    let (block, step) = rest.split_once('/').ok_or_else(|| format!("incomplete site `{text}`; {form}"))?;
    let block: u64 = block
        .strip_prefix("memory")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| format!("`{block}` in site `{text}` is not memory<N>; {form}"))?;
    let block = BLOCKS_MAX.below("the block number", block).map_err(|m| format!("site `{text}`: {m}"))? as u16;
    let pos = steps.iter().position(|s| s == step).ok_or_else(|| {
        let near = nearest(step, steps.iter().map(String::as_str))
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        format!("unknown memory step `{step}` in site `{text}`; {near}{form}")
    })?;
    Ok(Site::Memory { block, step: MemStep::ALL[pos] })
}

/// `acpi/cpu<N>/hot_add/<step>`.
fn parse_acpi_site(text: &str, rest: &str, cpus: usize) -> Result<Site, String> {
    let names: Vec<&str> = AcpiStep::ALL.iter().map(|s| s.name()).collect();
    let form = format!("expected acpi/cpu<N>/hot_add/<step> with <step> one of {}", names.join(", "));
    let (cpu, step) = rest.split_once("/hot_add/").ok_or_else(|| format!("incomplete site `{text}`; {form}"))?;
    let cpu: usize = cpu
        .strip_prefix("cpu")
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("`{cpu}` in site `{text}` is not cpu<N>; {form}"))?;
    if cpu >= cpus {
        return Err(format!("site `{text}` names CPU{cpu}, but the machine has CPUs 0 to {}", cpus - 1));
    }
    let pos = names.iter().position(|n| *n == step).ok_or_else(|| {
        let near = nearest(step, names.iter().copied()).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
        format!("unknown ACPI hot-add step `{step}` in site `{text}`; {near}{form}")
    })?;
    Ok(Site::Acpi { cpu: cpu as u16, step: AcpiStep::ALL[pos] })
}

fn split_inst(rest: &str) -> (&str, Option<u32>) {
    if let Some((state, inst)) = rest.rsplit_once("/inst")
        && let Ok(k) = inst.parse::<u32>()
    {
        return (state, Some(k));
    }
    (rest, None)
}

/// The closest candidate by edit distance, if it is close.
pub fn nearest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    candidates.map(|c| (levenshtein(word, c), c)).filter(|(d, _)| *d <= limit).min().map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Profile {
        Profile::builtin("debian-6.1").unwrap()
    }

    #[test]
    fn three_names_one_state() {
        let p = p();
        assert_eq!(resolve_state(&p, "197"), Ok(197));
        assert_eq!(resolve_state(&p, "workqueue:online"), Ok(197));
        assert_eq!(resolve_state(&p, "CPUHP_AP_WORKQUEUE_ONLINE"), Ok(197));
        let e = resolve_state(&p, "workqueue:onlin").unwrap_err();
        assert!(e.contains("did you mean `workqueue:online`"), "{e}");
    }

    #[test]
    fn sites() {
        let p = p();
        let s = parse_site(&p, 4, "cpuhp/cpu1/down/mm/writeback:online").unwrap();
        assert_eq!(s.to_string(), "cpuhp/cpu1/down/201");
        let s = parse_site(&p, 4, "cpuhp/cpu2/up/trace/RB:prepare/inst1").unwrap();
        assert_eq!(s.to_string(), "cpuhp/cpu2/up/62/inst1");
        assert!(parse_site(&p, 4, "cpuhp/cpu9/up/1").unwrap_err().contains("CPUs 0 to 3"));
        assert!(parse_site(&p, 4, "cpuhp/cpu1/sideways/1").is_err());
        assert_eq!(parse_site(&p, 4, "smp/cpu2/ipi"), Ok(Site::Ipi { cpu: 2 }));
        assert!(parse_site(&p, 4, "smp/cpu7/ipi").unwrap_err().contains("CPUs 0 to 3"));
        assert!(parse_site(&p, 4, "smp/cpu1/ipo").is_err());
        let m = parse_site(&p, 4, "memory/memory32/offline/MEM_GOING_OFFLINE").unwrap();
        assert_eq!(m.to_string(), "memory/memory32/offline/MEM_GOING_OFFLINE");
        let e = parse_site(&p, 4, "memory/memory65536/offline/migrate").unwrap_err();
        assert!(e.contains("0 to 4095 (below blocks_max = 4096), not 65536"), "{e}");
        let e = parse_site(&p, 4, "memory/memory32/offline/migrat").unwrap_err();
        assert!(e.contains("did you mean `offline/migrate`"), "{e}");
    }
}
