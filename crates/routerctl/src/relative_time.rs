//! Times as people read them in a table: `12s ago`, `in 20s`. JSON and YAML output keep the server's
//! absolute RFC 3339 times, so nothing is lost for scripts.

use routerd_api::Timestamp;
use std::time::Duration;

/// `12s ago`, `5m ago`, `3h ago`, `2d ago`, or `in 20s` for a time still to come; `now` within a second.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    if t <= now {
        let d = t.until(now);
        if d < Duration::from_secs(1) {
            "now".to_string()
        } else {
            format!("{} ago", compact(d))
        }
    } else {
        let d = now.until(t);
        if d < Duration::from_secs(1) {
            "now".to_string()
        } else {
            format!("in {}", compact(d))
        }
    }
}

/// [`relative`] for a time the server may have omitted; absent becomes `-`.
pub fn relative_opt(t: Option<Timestamp>, now: Timestamp) -> String {
    t.map(|t| relative(t, now))
        .unwrap_or_else(|| crate::table::ABSENT.to_string())
}

/// The age of something that started at `since` (`5m`), for AGE columns where "ago" would repeat the
/// header. A start in the future (clock skew between hosts) shows as `0s`.
pub fn age(since: Timestamp, now: Timestamp) -> String {
    compact(since.until(now))
}

/// The largest whole unit: `59s`, `1m`, `23h`, `2d`. Precision beyond that is noise in a table.
pub fn compact(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86_400 {
        format!("{}h", secs / 3600)
    } else {
        format!("{}d", secs / 86_400)
    }
}

/// RFC 3339 with milliseconds: precise enough to order events by eye, short enough for a log line.
pub fn absolute_millis(t: Timestamp) -> String {
    let full = t.to_rfc3339();
    match full.split_once('.') {
        Some((whole, fraction)) => {
            let digits: String = fraction
                .chars()
                .filter(char::is_ascii_digit)
                .take(3)
                .collect();
            format!("{whole}.{digits:0<3}Z")
        }
        None => match full.strip_suffix('Z') {
            Some(whole) => format!("{whole}.000Z"),
            None => full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_795_459_212_000_000_000);

    fn ago(secs: i64) -> Timestamp {
        Timestamp(NOW.0 - secs * 1_000_000_000)
    }

    #[test]
    fn past_times_use_the_largest_whole_unit() {
        assert_eq!(relative(ago(12), NOW), "12s ago");
        assert_eq!(relative(ago(59), NOW), "59s ago");
        assert_eq!(relative(ago(60), NOW), "1m ago");
        assert_eq!(relative(ago(5 * 60 + 59), NOW), "5m ago");
        assert_eq!(relative(ago(3 * 3600), NOW), "3h ago");
        assert_eq!(relative(ago(2 * 86_400 + 5), NOW), "2d ago");
    }

    #[test]
    fn future_times_read_in() {
        assert_eq!(relative(ago(-20), NOW), "in 20s");
        assert_eq!(relative(ago(-7200), NOW), "in 2h");
    }

    #[test]
    fn under_a_second_is_now_either_way() {
        assert_eq!(relative(NOW, NOW), "now");
        assert_eq!(relative(Timestamp(NOW.0 - 400_000_000), NOW), "now");
        assert_eq!(relative(Timestamp(NOW.0 + 400_000_000), NOW), "now");
    }

    #[test]
    fn absent_is_a_dash() {
        assert_eq!(relative_opt(None, NOW), "-");
        assert_eq!(relative_opt(Some(ago(5)), NOW), "5s ago");
    }

    #[test]
    fn age_has_no_suffix_and_clamps_the_future() {
        assert_eq!(age(ago(300), NOW), "5m");
        assert_eq!(age(ago(-30), NOW), "0s");
    }

    #[test]
    fn absolute_keeps_milliseconds() {
        let t = Timestamp(1_795_459_212_123_456_789);
        assert!(
            absolute_millis(t).ends_with(":12.123Z"),
            "{}",
            absolute_millis(t)
        );
        let whole = Timestamp(1_795_459_212_000_000_000);
        assert!(
            absolute_millis(whole).ends_with(":12.000Z"),
            "{}",
            absolute_millis(whole)
        );
    }
}
