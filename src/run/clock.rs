//! Wall-clock times as run folders record them: milliseconds since the Unix epoch, spelled in
//! UTC for folder names, logs and the studio, and ages in words ("3 min ago").

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now (0 on a clock set before 1970).
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A moment in UTC, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// The year.
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    /// 0-23.
    pub hour: u32,
    /// 0-59.
    pub minute: u32,
    /// 0-59.
    pub second: u32,
}

/// The UTC date and time of `unix_ms`.
pub fn utc(unix_ms: u64) -> UtcTime {
    let secs = unix_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let in_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    UtcTime {
        year,
        month,
        day,
        hour: (in_day / 3600) as u32,
        minute: ((in_day / 60) % 60) as u32,
        second: (in_day % 60) as u32,
    }
}

/// `2026-05-03 15:42:10 UTC`.
pub fn utc_text(unix_ms: u64) -> String {
    let t = utc(unix_ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// `20260503-154210`: sorts in time order, as a folder name's start.
pub fn folder_stamp(unix_ms: u64) -> String {
    let t = utc(unix_ms);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// How long ago, in words: `just now`, `12 s ago`, `3 min ago`, `2 h ago`, `4 days ago`.
pub fn age_text(secs: f64) -> String {
    if !secs.is_finite() || secs < 1.0 {
        return "just now".into();
    }
    let secs = secs.round() as u64;
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// (year, month, day) of `days` since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_1970_become_calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_576), (2026, 5, 3));
    }

    #[test]
    fn times_are_spelled_in_utc_and_ages_in_words() {
        let ms = (20_576 * 86_400 + 15 * 3600 + 42 * 60 + 10) * 1000 + 999;
        assert_eq!(utc_text(ms), "2026-05-03 15:42:10 UTC");
        assert_eq!(folder_stamp(ms), "20260503-154210");
        assert_eq!(age_text(0.4), "just now");
        assert_eq!(age_text(12.0), "12 s ago");
        assert_eq!(age_text(185.0), "3 min ago");
        assert_eq!(age_text(7200.0), "2 h ago");
        assert_eq!(age_text(4.0 * 86_400.0), "4 days ago");
    }
}
