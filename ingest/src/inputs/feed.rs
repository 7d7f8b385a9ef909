//! RSS (2.0 and 1.0) and Atom feeds: one document per item or entry, its id the item's
//! guid, id or link, its text the content (or description, or summary) with the HTML
//! stripped. A feed broken halfway keeps the items before the break.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::{html, origin, InputError};
use crate::document::Document;

/// The fields an item may carry, by local element name.
const FIELDS: &[&str] = &["title", "link", "guid", "id", "description", "summary", "content", "encoded", "pubDate", "updated", "published", "date"];

#[derive(Default)]
struct Item {
    fields: HashMap<&'static str, String>,
    /// Atom's `<link href>` (the alternate one).
    href: Option<String>,
    line: usize,
    /// Elements open outside the item: it ends when the path is this deep again.
    depth: usize,
}

pub fn parse(file: &Path, content: &str) -> Vec<Result<Document, InputError>> {
    // Line numbers by counting forward from the last position asked (positions only grow
    // as the reader goes on), so a feed of many items costs one pass, not one per item.
    let mut counted = (0usize, 1usize);
    let mut line_at = |pos: u64| {
        let pos = (pos as usize).min(content.len());
        if pos < counted.0 {
            counted = (0, 1);
        }
        counted.1 += content.as_bytes()[counted.0..pos].iter().filter(|&&b| b == b'\n').count();
        counted.0 = pos;
        counted.1
    };
    let mut reader = Reader::from_str(content);
    let mut out = Vec::new();
    let (mut path, mut feed_title, mut kind): (Vec<String>, Option<String>, Option<&str>) = (Vec::new(), None, None);
    let (mut item, mut field): (Option<Item>, Option<(&'static str, usize)>) = (None, None);
    loop {
        let pos = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                out.push(Err(InputError::new(file, Some(line_at(reader.error_position())), format!("malformed XML: {e}"))));
                break;
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = local(e);
                if kind.is_none() {
                    kind = match name.as_str() {
                        "rss" | "RDF" => Some("rss"),
                        "feed" => Some("atom"),
                        other => {
                            out.push(Err(InputError::new(file, Some(line_at(pos)), format!("not an RSS or Atom feed (root element <{other}>)"))));
                            break;
                        }
                    };
                }
                let empty = matches!(event, Event::Empty(_));
                if item.is_none() && (name == "item" || name == "entry") {
                    let it = Item { line: line_at(pos), depth: path.len(), ..Item::default() };
                    if empty {
                        out.push(finish(file, &it, kind, feed_title.as_deref()));
                    } else {
                        item = Some(it);
                    }
                } else if let Some(it) = item.as_mut() {
                    if name == "link" {
                        let attr = |k: &str| e.try_get_attribute(k).ok().flatten().and_then(|a| a.unescape_value().ok()).map(|v| v.into_owned());
                        if it.href.is_none() && attr("rel").is_none_or(|r| r == "alternate") {
                            it.href = attr("href");
                        }
                    }
                    if field.is_none() && !empty {
                        if let Some(f) = FIELDS.iter().find(|f| **f == name) {
                            field = Some((f, path.len()));
                        }
                    }
                } else if name == "title" && matches!(path.last().map(String::as_str), Some("channel" | "feed")) {
                    field = Some(("title", path.len()));
                }
                if !empty {
                    path.push(name);
                }
            }
            Event::End(_) => {
                path.pop();
                if field.is_some_and(|(_, depth)| depth == path.len()) {
                    field = None;
                }
                if let Some(it) = item.take_if(|it| it.depth == path.len()) {
                    out.push(finish(file, &it, kind, feed_title.as_deref()));
                }
            }
            Event::Text(t) => {
                let raw = String::from_utf8_lossy(&t).into_owned();
                let text = t.unescape().map(|c| c.into_owned()).unwrap_or_else(|_| html::decode(&raw));
                append(&mut item, &mut feed_title, field, &text);
            }
            Event::CData(c) => append(&mut item, &mut feed_title, field, &String::from_utf8_lossy(&c)),
            Event::Eof => break,
            _ => {}
        }
    }
    if kind.is_none() && out.is_empty() {
        out.push(Err(InputError::new(file, None, "empty feed")));
    }
    out
}

fn finish(file: &Path, it: &Item, kind: Option<&str>, feed_title: Option<&str>) -> Result<Document, InputError> {
    document(it, kind.unwrap_or("rss"), feed_title).map_err(|d| InputError::new(file, Some(it.line), d))
}

fn append(item: &mut Option<Item>, feed_title: &mut Option<String>, field: Option<(&'static str, usize)>, text: &str) {
    let Some((name, _)) = field else { return };
    let slot = match item.as_mut() {
        Some(it) => it.fields.entry(name).or_default(),
        None => feed_title.get_or_insert_with(String::new),
    };
    slot.push_str(text);
}

fn local(e: &BytesStart) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc2822(t).or_else(|_| DateTime::parse_from_rfc3339(t)).ok().map(|d| d.with_timezone(&Utc))
}

fn document(it: &Item, kind: &str, feed_title: Option<&str>) -> Result<Document, String> {
    let get = |k: &str| it.fields.get(k).map(|s| s.trim()).filter(|s| !s.is_empty());
    let link = get("link").map(str::to_owned).or_else(|| it.href.clone());
    let id = get("guid").or(get("id")).map(str::to_owned).or_else(|| link.clone()).ok_or("item has no guid, id or link")?;
    let body = get("content").or(get("encoded")).or(get("description")).or(get("summary")).map(html::to_text).unwrap_or_default();
    let title = get("title").map(html::to_text).filter(|t| !t.is_empty());
    if body.is_empty() && title.is_none() {
        return Err(format!("item {id:?} has no text"));
    }
    let text = if body.is_empty() { title.clone().unwrap_or_default() } else { body };
    let mut metadata = origin(kind, "");
    metadata.remove("file");
    if let Some(f) = feed_title.map(str::trim).filter(|f| !f.is_empty()) {
        metadata.insert("feed".into(), f.into());
    }
    if let Some(l) = link {
        metadata.insert("link".into(), l.into());
    }
    let updated_at = get("updated").or(get("pubDate")).or(get("published")).or(get("date")).and_then(time);
    Ok(Document { id, text, title, metadata, updated_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_items_become_documents_with_html_stripped() {
        let rss = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Status page</title>
<item><title>Postgres failover</title><link>https://status/1</link><guid>inc-1</guid>
<pubDate>Fri, 20 Nov 2026 10:00:00 +0000</pubDate>
<description>&lt;p&gt;Primary &lt;b&gt;lost&lt;/b&gt; its disk.&lt;/p&gt;</description></item>
<item><title>Mail delayed</title><link>https://status/2</link>
<content:encoded><![CDATA[<p>Queue &amp; retries</p><p>fixed</p>]]></content:encoded></item>
<item><description>no id</description></item>
</channel></rss>"#;
        let out = parse(Path::new("status.rss"), rss);
        assert_eq!(out.len(), 3, "{out:?}");
        let a = out[0].as_ref().unwrap();
        assert_eq!((a.id.as_str(), a.title.as_deref(), a.text.as_str()), ("inc-1", Some("Postgres failover"), "Primary lost its disk."));
        assert_eq!(a.metadata["feed"], "Status page");
        assert_eq!(a.updated_at.unwrap().to_rfc3339(), "2026-11-20T10:00:00+00:00");
        let b = out[1].as_ref().unwrap();
        assert_eq!((b.id.as_str(), b.text.as_str()), ("https://status/2", "Queue & retries\nfixed"));
        assert_eq!(out[2].as_ref().unwrap_err().to_string(), "status.rss:8: item has no guid, id or link");
    }

    /// A dev.to-style item: the post's HTML escaped in <description>, a highlighted YAML
    /// block inside. The stored text keeps the YAML as written, as fenced Markdown.
    #[test]
    fn code_in_a_feed_item_keeps_its_indentation() {
        let rss = r#"<rss version="2.0"><channel><title>dev.to</title>
<item><title>NetworkPolicy for DNS</title><guid>https://dev.to/x/1</guid>
<description>&lt;p&gt;Allow DNS only:&lt;/p&gt;
&lt;div class="highlight js-code-highlight"&gt;
&lt;pre class="highlight yaml"&gt;&lt;code&gt;&lt;span class="na"&gt;spec&lt;/span&gt;&lt;span class="pi"&gt;:&lt;/span&gt;
  &lt;span class="na"&gt;egress&lt;/span&gt;&lt;span class="pi"&gt;:&lt;/span&gt;
    &lt;span class="pi"&gt;-&lt;/span&gt; &lt;span class="na"&gt;ports&lt;/span&gt;&lt;span class="pi"&gt;:&lt;/span&gt;
        &lt;span class="pi"&gt;-&lt;/span&gt; &lt;span class="na"&gt;port&lt;/span&gt;&lt;span class="pi"&gt;:&lt;/span&gt; &lt;span class="m"&gt;53&lt;/span&gt;
&lt;/code&gt;&lt;/pre&gt;
&lt;/div&gt;</description></item>
</channel></rss>"#;
        let out = parse(Path::new("devto.rss"), rss);
        let d = out[0].as_ref().unwrap();
        assert_eq!(d.text, "Allow DNS only:\n\n```yaml\nspec:\n  egress:\n    - ports:\n        - port: 53\n```", "{}", d.text);
    }

    #[test]
    fn atom_entries_use_id_and_alternate_link() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>Runbooks</title>
<entry><id>urn:rb:1</id><title type="html">Disk &amp;amp; inodes</title><updated>2026-11-21T08:00:00Z</updated>
<link rel="edit" href="https://x/edit"/><link href="https://x/rb/1"/>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Run <code>df -i</code></p></div></content></entry></feed>"#;
        let out = parse(Path::new("rb.atom"), atom);
        let d = out[0].as_ref().unwrap();
        assert_eq!((d.id.as_str(), d.title.as_deref(), d.text.as_str()), ("urn:rb:1", Some("Disk & inodes"), "Run df -i"));
        assert_eq!(d.metadata["link"], "https://x/rb/1");
        assert_eq!(d.metadata["format"], "atom");
    }

    #[test]
    fn broken_and_foreign_xml_are_named() {
        let out = parse(Path::new("f.xml"), "<rss><channel><item><guid>a</guid><title>ok</title></item>\n<item><guid>b</guid></channel>");
        assert_eq!(out[0].as_ref().unwrap().id, "a");
        assert!(out[1].as_ref().unwrap_err().to_string().starts_with("f.xml:2: malformed XML"), "{out:?}");
        let out = parse(Path::new("f.xml"), "<html><body/></html>");
        assert_eq!(out[0].as_ref().unwrap_err().to_string(), "f.xml:1: not an RSS or Atom feed (root element <html>)");
    }
}
