//! HTML to text, for feed items: tags dropped, block elements as line breaks, scripts and
//! styles left out, entities decoded. Enough for an embedding, not a renderer.

/// The visible text of `html`.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode(&rest[..lt]));
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else {
            // A lone '<' is text.
            out.push_str(&decode(rest));
            rest = "";
            break;
        };
        let tag = rest[1..gt].trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("").to_ascii_lowercase();
        rest = &rest[gt + 1..];
        if matches!(tag.as_str(), "script" | "style") && !rest.is_empty() {
            // Skip to the closing tag; unclosed drops the rest.
            let close = format!("</{tag}");
            rest = match find_ascii_ci(rest, &close) {
                Some(i) => rest[i..].find('>').map(|g| &rest[i + g + 1..]).unwrap_or(""),
                None => "",
            };
            continue;
        }
        if matches!(tag.as_str(), "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "pre" | "blockquote" | "ul" | "ol" | "table") {
            out.push('\n');
        }
    }
    out.push_str(&decode(rest));
    tidy(&out)
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Lines trimmed and runs of blank lines collapsed.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = true;
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
            continue;
        }
        if !out.is_empty() && !blank {
            out.push('\n');
        }
        out.push_str(&line);
        blank = false;
    }
    out.trim().to_owned()
}

/// Decodes the named entities text commonly holds and every numeric one.
pub fn decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(|c: char| c == ';' || c == '&' || c.is_whitespace()).map(|i| i + 1);
        let decoded = match end.filter(|&e| rest.as_bytes()[e] == b';') {
            Some(e) => entity(&rest[1..e]).map(|c| (c, e + 1)),
            None => None,
        };
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "times" => '×',
        "deg" => '°',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_readable_text() {
        let html = "<p>Disk <b>full</b> on node&nbsp;3 &amp; growing &#8212; see&#x20;<a href=\"x\">runbook</a>.</p>\
                    <script>alert('x')</script><STYLE>p{}</STYLE><ul><li>one</li><li>two</li></ul>";
        assert_eq!(to_text(html), "Disk full on node 3 & growing — see runbook.\none\ntwo");
    }

    #[test]
    fn broken_markup_is_text_not_a_panic() {
        assert_eq!(to_text("a < b and c &bogus; d &"), "a < b and c &bogus; d &");
        assert_eq!(to_text("<script>never closed"), "");
        assert_eq!(decode("&#xD800;&#99999999;"), "&#xD800;&#99999999;");
        assert_eq!(to_text("x <unclosed"), "x <unclosed");
    }
}
