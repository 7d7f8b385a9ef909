//! Arbitrary bytes as an Alertmanager webhook, through every check the gateway runs before
//! it stores one: depth scan, parse, shape limits, per-alert validation, text rendering.
#![no_main]

use firebreak_intake::alert_text::{alert_gist, alert_query};
use firebreak_intake::alertmanager::Webhook;
use firebreak_intake::length::within;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let limits = firebreak_fuzz::limits();
    let Some(hook) = firebreak_fuzz::parse::<Webhook>(body) else { return };
    let accepted = limits.check_webhook(&hook).is_ok();
    if accepted {
        assert!(hook.alerts.len() <= limits.max_alerts_per_webhook);
    }
    for (i, a) in hook.alerts.iter().enumerate() {
        if accepted {
            for set in [&a.labels, &a.annotations] {
                assert!(set.len() <= limits.max_labels);
                assert!(set.iter().all(|(k, v)| within(k, limits.max_label_name_chars) && within(v, limits.max_label_value_chars)));
            }
        }
        match a.occurrence(i) {
            // Any RFC 3339 startsAt is a time (an old one is odd, not unreadable).
            Ok(o) => assert!(!o.alertname.is_empty() && !firebreak_intake::blank::is_blank(&a.fingerprint)),
            Err(e) => assert!(e.to_string().starts_with(&format!("alert {i}:"))),
        }
        let _ = (alert_gist(a), alert_query(a));
    }
});
