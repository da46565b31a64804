//! Wait hints: how long a vendor asks us to wait before trying again.
//!
//! Vendors say it in seconds (`Retry-After: 7`, Feishu's
//! `x-ogw-ratelimit-reset: 7`, JPush's `X-Rate-Limit-Reset: 7`) or, for
//! `Retry-After`, as an HTTP date. Hints become milliseconds for
//! [`Outcome::Retry`](plugin_api::Outcome::Retry)'s `after_ms`.

use plugin_api::HttpResponse;

/// Longest wait a hint may ask for (one day). A larger value is a vendor bug
/// or a misread header; the host's own backoff still applies after it.
pub const MAX_WAIT_MS: u64 = 86_400_000;

/// A number of seconds (`"7"`, `"1.5"`, `" 0 "`) in milliseconds, rounded up
/// and capped at [`MAX_WAIT_MS`]. `None` for anything else, negative included.
pub fn seconds_ms(value: &str) -> Option<u64> {
    let seconds: f64 = value.trim().parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let ms = (seconds * 1000.0).ceil();
    // `as` saturates for floats; the cap keeps the value meaningful.
    Some((ms as u64).min(MAX_WAIT_MS))
}

/// The `Retry-After` header in milliseconds from `now_ms`: delta-seconds or an
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`). A date in the past is 0.
pub fn retry_after_ms(response: &HttpResponse, now_ms: i64) -> Option<u64> {
    let value = response.header("Retry-After")?;
    if let Some(ms) = seconds_ms(value) {
        return Some(ms);
    }
    let at_ms = http_date_ms(value)?;
    let wait = at_ms.saturating_sub(now_ms).max(0);
    Some(u64::try_from(wait).unwrap_or(0).min(MAX_WAIT_MS))
}

/// The first of the vendor's seconds `headers` that parses, else `Retry-After`.
pub fn wait_hint_ms(response: &HttpResponse, now_ms: i64, headers: &[&str]) -> Option<u64> {
    headers
        .iter()
        .find_map(|name| response.header(name).and_then(seconds_ms))
        .or_else(|| retry_after_ms(response, now_ms))
}

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`,
/// as Unix epoch milliseconds. The obsolete RFC 850 and asctime forms are not
/// accepted.
pub fn http_date_ms(value: &str) -> Option<i64> {
    let mut parts = value.split_whitespace();
    let _weekday = parts.next().filter(|w| w.ends_with(','))?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next() != Some("GMT") || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some()
        || !(1..=31).contains(&day)
        || !(0..24).contains(&hour)
        || !(0..60).contains(&minute)
        || !(0..=60).contains(&second)
        || !(1970..=9999).contains(&year)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::Header;

    fn with_headers(headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status: 429,
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            body: String::new(),
        }
    }

    #[test]
    fn seconds_parse_to_rounded_up_capped_milliseconds() {
        let cases = [
            ("7", Some(7_000)),
            (" 0 ", Some(0)),
            ("1.5", Some(1_500)),
            ("0.0001", Some(1)),
            ("99999999", Some(MAX_WAIT_MS)),
            ("1e300", Some(MAX_WAIT_MS)),
            ("-1", None),
            ("NaN", None),
            ("inf", None),
            ("soon", None),
            ("", None),
        ];
        for (value, expected) in cases {
            assert_eq!(seconds_ms(value), expected, "{value:?}");
        }
    }

    #[test]
    fn http_dates_parse_to_epoch_milliseconds() {
        assert_eq!(http_date_ms("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(
            http_date_ms("Tue, 29 Feb 2028 23:59:59 GMT"),
            Some(1_835_481_599_000)
        );
        for bad in [
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "",
        ] {
            assert_eq!(http_date_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_or_a_date() {
        assert_eq!(
            retry_after_ms(&with_headers(&[("retry-after", "3")]), 0),
            Some(3_000)
        );
        let date = with_headers(&[("Retry-After", "Thu, 01 Jan 1970 00:00:10 GMT")]);
        assert_eq!(retry_after_ms(&date, 4_000), Some(6_000));
        assert_eq!(
            retry_after_ms(&date, 20_000),
            Some(0),
            "a date in the past means now"
        );
        assert_eq!(
            retry_after_ms(&with_headers(&[("Retry-After", "later")]), 0),
            None
        );
        assert_eq!(retry_after_ms(&with_headers(&[]), 0), None);
    }

    #[test]
    fn vendor_header_wins_over_retry_after() {
        let response = with_headers(&[("Retry-After", "9"), ("x-ogw-ratelimit-reset", "2")]);
        assert_eq!(
            wait_hint_ms(&response, 0, &["x-ogw-ratelimit-reset"]),
            Some(2_000)
        );
        let bad_vendor = with_headers(&[("Retry-After", "9"), ("x-ogw-ratelimit-reset", "x")]);
        assert_eq!(
            wait_hint_ms(&bad_vendor, 0, &["x-ogw-ratelimit-reset"]),
            Some(9_000)
        );
        assert_eq!(
            wait_hint_ms(&with_headers(&[]), 0, &["x-ogw-ratelimit-reset"]),
            None
        );
    }
}
