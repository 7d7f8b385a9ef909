//! Volatile tokens: the words of an alert that name one instance of a problem rather than
//! the problem. Pod ordinals and hashes (`rabbitmq-0`, `pvc-3f1c9a2e`), hosts and ports
//! (`k3s-w2:9100`, `10.0.20.11`), paths and URLs, `namespace/name` pairs, versions and
//! measurements (`2.4.3`, `94.1%`). The same cause recurs on other pods and nodes, and an
//! alert on `rabbitmq-0` is as likely to share its cause with a past `postgresql-1` as
//! with a past `rabbitmq-2`: matching on these words ranks by coincidence of names.
//!
//! What stays: words, and the codes that identify a kind of failure (`137`, `502`,
//! `1062`, `28P01`, `x509`, `5xx`): a number of three or more digits, or letters and
//! digits in one word without separators.

/// Whether one whitespace-separated token (punctuation around it is ignored) is volatile.
pub fn is_volatile(token: &str) -> bool {
    // Sentence punctuation around a token is not part of it; a leading `/` is (a path).
    let t = token.trim_matches(|c: char| !c.is_alphanumeric() && !matches!(c, '/' | '@' | '=' | '%'));
    if !t.chars().any(char::is_alphanumeric) {
        return false;
    }
    if !t.chars().any(|c| c.is_ascii_digit()) {
        // Words, and word-only identifiers, unless they are paths, URLs or label pairs.
        return t.contains(['/', '@', '=']);
    }
    if t.contains(['/', '@', '=', ':']) {
        return true;
    }
    // A bare number: codes have three digits or more; short ones are counts and ordinals.
    if t.chars().all(|c| c.is_ascii_digit()) {
        return t.len() < 3;
    }
    // Digits beside separators: ordinals, hashes, versions, measurements, dates.
    if t.contains(['-', '_', '.', '%', ',']) {
        return true;
    }
    // One word of letters and digits: a code (28P01, x509, k3s) unless it looks like a
    // hash (long, hexadecimal, digits and letters mixed).
    t.len() >= 8 && t.chars().all(|c| c.is_ascii_hexdigit())
}

/// The text without its volatile tokens (whitespace normalised to single spaces).
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for tok in text.split_whitespace().filter(|t| !is_volatile(t)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(tok);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_go_and_failure_codes_stay() {
        for v in ["rabbitmq-0", "k3s-w2:9100", "10.0.20.11", "messaging/kafka", "pvc-3f1c9a2e", "\"pvc-3f1c9a2e\"", "2.4.3", "94.1%",
                  "03:12;", "3", "15", "https://kubernetes.default.svc/default/harbor", "auth-authelia@kubernetescrd", "7d9f6c4a2b",
                  "ata-ST8000VN004_ZA1ABCDE", "ns=mail", "/data", "(/var/mail)"] {
            assert!(is_volatile(v), "{v} should be volatile");
        }
        for k in ["137", "502", "1062,", "28P01", "x509:", "5xx", "k3s", "OOMKilled", "UDMA_CRC_Error_Count", "crash-looping", "(exit"] {
            assert!(!is_volatile(k), "{k} should stay");
        }
    }

    #[test]
    fn mask_keeps_the_words_of_the_problem() {
        assert_eq!(
            mask("rabbitmq-0 was rescheduled after\nits worker k3s-w2 lost power; exit code 137"),
            "was rescheduled after its worker lost power; exit code 137"
        );
    }
}
