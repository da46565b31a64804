//! Rules that could never fire are refused where the admin wrote them.

use super::*;

#[test]
fn rules_that_can_never_fire_are_refused_where_written() {
    let rules = r#"rules:
  - name: empty-window
    on: {event: deploy}
    select: {tags: [x], sent_after: "2026-02-01T00:00:00Z", sent_before: "2026-01-01T00:00:00Z"}
    do: recall
  - name: inverted-ages
    on: {event: deploy}
    select: {tags: [x], older_than: 2h, newer_than: 1h}
    do: recall
  - name: february-30
    on: {schedule: "0 0 30 2 *"}
    select: {tags: [x]}
    do: recall
  - name: year-gone-by
    on: {schedule: "0 0 0 1 1 * 2020"}
    select: {tags: [x]}
    do: recall
  - name: waits-too-long
    on: {sent: {tags: [otp]}, after: 11y}
    do: recall
"#;
    let errors = load_errors(&[("a.yaml", rules)]);
    let expected: [(&str, &str); 5] = [
        (
            "a.yaml:4:37:",
            "sent_after must be earlier than sent_before",
        ),
        ("a.yaml:8:53:", "newer_than must be longer than older_than"),
        ("a.yaml:11:20:", "never comes again"),
        ("a.yaml:15:20:", "never comes again"),
        ("a.yaml:19:38:", "on.after must be at most"),
    ];
    crate::config::assert_located(&errors, &expected);
}

#[test]
fn bounds_that_leave_time_and_long_waits_up_to_ten_years_are_fine() {
    let rules = r#"rules:
  - name: window
    on: {event: deploy}
    select: {tags: [x], sent_after: "2026-01-01T00:00:00Z", sent_before: "2026-02-01T00:00:00Z", older_than: 1h, newer_than: 2h}
    do: recall
  - name: leap-day
    on: {schedule: "0 0 29 2 *"}
    select: {tags: [x]}
    do: recall
  - name: ten-years
    on: {sent: {tags: [otp]}, after: 3650d}
    do: recall
"#;
    assert_eq!(load_ok(&[("a.yaml", rules)]).set.rules().len(), 3);
}
