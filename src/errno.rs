//! Kernel error numbers, as `include/uapi/asm-generic/errno-base.h` and
//! `errno.h` define them, and their names for printing.
//!
//! Models the values only. Results print as `-EAGAIN`; a positive value (a
//! dynamic state number) prints as a number.

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const EINTR: i32 = 4;
pub const ENXIO: i32 = 6;
pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const ENODEV: i32 = 19;
pub const EINVAL: i32 = 22;
pub const ENOSPC: i32 = 28;
pub const ERANGE: i32 = 34;
pub const EOPNOTSUPP: i32 = 95;
pub const ECANCELED: i32 = 125;

const NAMES: &[(i32, &str)] = &[
    (EPERM, "EPERM"),
    (ENOENT, "ENOENT"),
    (EINTR, "EINTR"),
    (ENXIO, "ENXIO"),
    (EAGAIN, "EAGAIN"),
    (ENOMEM, "ENOMEM"),
    (EBUSY, "EBUSY"),
    (EEXIST, "EEXIST"),
    (ENODEV, "ENODEV"),
    (EINVAL, "EINVAL"),
    (ENOSPC, "ENOSPC"),
    (ERANGE, "ERANGE"),
    (EOPNOTSUPP, "EOPNOTSUPP"),
    (ECANCELED, "ECANCELED"),
];

/// `-EAGAIN` for -11, the number itself otherwise.
pub fn name(ret: i64) -> String {
    if ret < 0
        && let Some((_, n)) = NAMES.iter().find(|(v, _)| -(*v as i64) == ret)
    {
        return format!("-{n}");
    }
    ret.to_string()
}

/// Parses `-EAGAIN`, `EAGAIN` or `-11` into a negative errno.
pub fn parse(s: &str) -> Option<i32> {
    let t = s.trim();
    let bare = t.strip_prefix('-').unwrap_or(t);
    if let Some((v, _)) = NAMES.iter().find(|(_, n)| *n == bare) {
        return Some(-v);
    }
    match t.parse::<i32>() {
        Ok(v) if (-4095..0).contains(&v) => Some(v),
        _ => None,
    }
}

/// The names `parse` accepts, for error messages.
pub fn known() -> String {
    NAMES.iter().map(|(_, n)| format!("-{n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::parse("-EAGAIN"), Some(-11));
        assert_eq!(super::parse("ENOMEM"), Some(-12));
        assert_eq!(super::parse("-5"), Some(-5));
        assert_eq!(super::parse("5"), None);
        assert_eq!(super::parse("-EFOO"), None);
        assert_eq!(super::name(-125), "-ECANCELED");
        assert_eq!(super::name(201), "201");
    }
}
