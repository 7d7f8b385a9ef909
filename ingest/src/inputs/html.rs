//! HTML to text, for feed items: tags dropped, block elements as line breaks, scripts and
//! styles left out, entities decoded. Enough for an embedding, not a renderer — except
//! code: a `<pre>` block is kept verbatim (indentation, blank lines, the highlighter's
//! spans dropped) as fenced Markdown, because a runbook's YAML that comes back flat is
//! invalid for the SRE who copies it, and for an answer that quotes it.

/// The visible text of `html`; `<pre>` blocks as fenced code, verbatim.
pub fn to_text(html: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
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
        let closing = rest[1..gt].starts_with('/');
        let tag = rest[1..gt].trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("").to_ascii_lowercase();
        let open_tag = &rest[..gt + 1];
        rest = &rest[gt + 1..];
        if tag == "pre" && !closing {
            // Up to the closing tag (unclosed: the rest), verbatim.
            let (inner, after) = match find_ascii_ci(rest, "</pre") {
                Some(i) => (&rest[..i], rest[i..].find('>').map(|g| &rest[i + g + 1..]).unwrap_or("")),
                None => (rest, ""),
            };
            let code = code_text(inner);
            if !code.trim().is_empty() {
                parts.push(tidy(&std::mem::take(&mut out)));
                parts.push(fenced(&code, language(open_tag, inner)));
            }
            rest = after;
            continue;
        }
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
    parts.push(tidy(&out));
    parts.retain(|p| !p.is_empty());
    parts.join("\n\n")
}

/// A `<pre>` block's text as written: tags dropped (`<br>` a line break), entities
/// decoded, whitespace kept; blank lines at either end dropped.
fn code_text(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode(&rest[..lt]));
        match rest[lt..].find('>') {
            Some(gt) => {
                let tag = rest[lt + 1..lt + gt].trim_start_matches('/').split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
                if tag.eq_ignore_ascii_case("br") {
                    out.push('\n');
                }
                rest = &rest[lt + gt + 1..];
            }
            None => {
                out.push_str(&decode(&rest[lt..]));
                rest = "";
            }
        }
    }
    out.push_str(&decode(rest));
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !l.is_empty()).map_or(first, |i| i + 1);
    lines[first..last].join("\n")
}

/// The block's language, from `language-X` / `lang-X` on the `<pre>` or its `<code>`,
/// or a highlighter's `class="highlight X"` (what dev.to and Jekyll write).
fn language(pre_tag: &str, inner: &str) -> String {
    let code_tag = inner.trim_start().strip_prefix('<').and_then(|t| t.find('>').map(|g| &t[..g])).unwrap_or("");
    for tag in [pre_tag, code_tag] {
        let Some(i) = find_ascii_ci(tag, "class=") else { continue };
        let value = tag[i + 6..].trim_start_matches(['"', '\'']);
        let value = &value[..value.find(['"', '\'', '>']).unwrap_or(value.len())];
        let classes: Vec<&str> = value.split_whitespace().collect();
        let named = classes.iter().find_map(|c| c.strip_prefix("language-").or_else(|| c.strip_prefix("lang-")));
        let highlighted = classes.iter().position(|c| *c == "highlight").and_then(|p| classes.get(p + 1)).copied();
        if let Some(lang) = named.or(highlighted).filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '+')) {
            return lang.to_ascii_lowercase();
        }
    }
    String::new()
}

/// `code` as a Markdown fenced block, the fence longer than any backtick run inside.
fn fenced(code: &str, language: String) -> String {
    let longest = code.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{language}\n{code}\n{fence}")
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

    /// The shape dev.to's RSS items carry (a highlighter's spans inside `<pre><code>`),
    /// after the feed's XML escaping is undone: the YAML comes back as written.
    #[test]
    fn code_blocks_keep_their_indentation_as_fenced_markdown() {
        let html = r#"<p>Deny pods without limits:</p>
<div class="highlight js-code-highlight">
<pre class="highlight yaml"><code><span class="na">apiVersion</span><span class="pi">:</span> <span class="s">kyverno.io/v1</span>
<span class="na">kind</span><span class="pi">:</span> <span class="s">ClusterPolicy</span>
<span class="na">spec</span><span class="pi">:</span>
  <span class="na">rules</span><span class="pi">:</span>

    <span class="pi">-</span> <span class="na">name</span><span class="pi">:</span> <span class="s">require-limits</span>
      <span class="na">match</span><span class="pi">:</span> <span class="s">&quot;*&quot;</span>
</code></pre>
</div>
<p>Apply   it with <code>kubectl apply</code>.</p>"#;
        let yaml = "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nspec:\n  rules:\n\n    - name: require-limits\n      match: \"*\"";
        assert_eq!(to_text(html), format!("Deny pods without limits:\n\n```yaml\n{yaml}\n```\n\nApply it with kubectl apply."));
        // Plain <pre>, a language class on <code>, backticks inside, unclosed.
        assert_eq!(to_text("<pre>a\n  b</pre>"), "```\na\n  b\n```");
        assert_eq!(to_text("<pre><code class=\"language-bash\">echo `date`</code></pre>"), "```bash\necho `date`\n```");
        assert_eq!(to_text("<pre>x ``` y"), "````\nx ``` y\n````");
        assert_eq!(to_text("<pre>   </pre>text"), "text");
    }

    #[test]
    fn broken_markup_is_text_not_a_panic() {
        assert_eq!(to_text("a < b and c &bogus; d &"), "a < b and c &bogus; d &");
        assert_eq!(to_text("<script>never closed"), "");
        assert_eq!(decode("&#xD800;&#99999999;"), "&#xD800;&#99999999;");
        assert_eq!(to_text("x <unclosed"), "x <unclosed");
    }
}
