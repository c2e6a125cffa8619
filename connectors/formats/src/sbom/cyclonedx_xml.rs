//! CycloneDX XML (<https://cyclonedx.org/docs/1.6/xml/>, specification 1.2–1.7) turned into the JSON
//! shape of CycloneDX JSON.
//!
//! The document is streamed (quick-xml events, no tree): the root `<bom>` in the namespace
//! `http://cyclonedx.org/schema/bom/1.N` gives `specVersion` `1.N`; kept are `serialNumber`,
//! `version`, `metadata` (`timestamp`, `component`), `components` nested at any depth (attributes
//! `type`, `bom-ref`; `group`, `name`, `version`, `purl`, `scope`, `description`, `publisher`,
//! `author`, `cpe`, `copyright`, `hashes`, `licenses`) and `dependencies`. Every other element,
//! and every element of another namespace, is skipped with its content.
//!
//! Entities: only the five predefined ones and character references are read. Nothing is ever
//! fetched or expanded from a DTD; a `<!DOCTYPE>` that declares entities (the "billion laughs"
//! attack) is refused, and so is a reference to an undeclared entity.

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};
use serde_json::{Map, Value, json};

use crate::error::{FormatError, Location, line_column};

/// The start of every CycloneDX XML namespace; the specification version follows it.
pub const NAMESPACE_PREFIX: &str = "http://cyclonedx.org/schema/bom/";

/// The specification versions read (the ones the CycloneDX JSON importer reads too).
pub const SPEC_VERSIONS: [&str; 6] = ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"];

/// Elements nested deeper than this are refused (the output is a tree the JSON reader must walk).
const MAX_DEPTH: usize = 256;

/// What an open element builds.
enum Frame {
    Bom(Map<String, Value>),
    Metadata(Map<String, Value>),
    Component(Map<String, Value>),
    List(ListKind, Vec<Value>),
    Hash {
        alg: String,
        content: String,
    },
    License(Map<String, Value>),
    Dependency {
        reference: String,
        depends_on: Vec<String>,
    },
    Leaf {
        key: &'static str,
        text: String,
    },
    /// An element not read, and all inside it.
    Skip,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Components,
    Hashes,
    Licenses,
    Dependencies,
}

impl ListKind {
    fn member(self) -> &'static str {
        match self {
            ListKind::Components => "components",
            ListKind::Hashes => "hashes",
            ListKind::Licenses => "licenses",
            ListKind::Dependencies => "dependencies",
        }
    }
}

/// The text members of a component that are kept.
fn component_member(name: &str) -> Option<&'static str> {
    Some(match name {
        "group" => "group",
        "name" => "name",
        "version" => "version",
        "purl" => "purl",
        "scope" => "scope",
        "description" => "description",
        "publisher" => "publisher",
        "author" => "author",
        "cpe" => "cpe",
        "copyright" => "copyright",
        _ => return None,
    })
}

/// The streaming converter's state.
struct Converter<'a> {
    text: &'a str,
    path: &'a str,
    /// The namespace of the root, once seen.
    namespace: Option<String>,
    stack: Vec<Frame>,
    /// Dependencies nested in dependencies that have their own `dependsOn`.
    extra_dependencies: Vec<Value>,
    root: Option<Map<String, Value>>,
}

/// Converts CycloneDX XML `text` (named `path` in errors) to the JSON shape of CycloneDX JSON.
///
/// Errors carry the line and column: XML that is not well-formed, a root that is not a CycloneDX
/// `<bom>` of a supported version, a DOCTYPE declaring entities, an undeclared entity, a
/// `<hash>` without `alg` or a `<dependency>` without `ref`.
pub fn to_json(text: &str, path: &str) -> Result<Value, FormatError> {
    let mut converter =
        Converter { text, path, namespace: None, stack: Vec::new(), extra_dependencies: Vec::new(), root: None };
    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = false;
    loop {
        let at = offset(reader.buffer_position());
        let (resolved, event) = match reader.read_resolved_event() {
            Ok(ok) => ok,
            Err(e) => return Err(converter.error(offset(reader.error_position()), format!("XML syntax: {e}"))),
        };
        let in_bom = match (&resolved, &converter.namespace) {
            (ResolveResult::Bound(ns), Some(bom)) => ns.0 == bom.as_str(),
            _ => false,
        };
        let namespace = match resolved {
            ResolveResult::Bound(ns) => Some(ns.0.to_string()),
            _ => None,
        };
        match event {
            Event::Start(start) => converter.start(&start, namespace, in_bom, at)?,
            Event::Empty(start) => {
                converter.start(&start, namespace, in_bom, at)?;
                converter.end(at)?;
            }
            Event::End(_) => converter.end(at)?,
            Event::Text(t) => converter.text(&t.xml10_content()),
            Event::CData(t) => converter.text(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&r) {
                        Some(s) => s.to_string(),
                        None => return Err(converter.error(at, format!("undeclared entity `&{};`", &*r))),
                    },
                    Err(e) => return Err(converter.error(at, format!("bad character reference `&{};`: {e}", &*r))),
                };
                converter.text(&resolved);
            }
            Event::DocType(d) => {
                if d.to_ascii_uppercase().contains("<!ENTITY") {
                    return Err(converter.error(
                        at,
                        "the DOCTYPE declares entities: refused (entity expansion, as in the \"billion laughs\" \
                         attack, is never done)",
                    ));
                }
            }
            Event::Eof => return converter.finish(offset(reader.buffer_position())),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// The value of the unprefixed attribute `name`, unescaped.
fn attribute(start: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in start.attributes() {
        let a = a.map_err(|e| format!("attribute: {e}"))?;
        if a.key.as_ref() == name {
            let v = a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| format!("attribute `{name}`: {e}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

impl Converter<'_> {
    fn error(&self, at: usize, reason: impl Into<String>) -> FormatError {
        let (line, column) = line_column(self.text, at);
        FormatError::new(self.path, Location::LineColumn(line, column), reason)
    }

    fn start(
        &mut self,
        start: &BytesStart<'_>,
        namespace: Option<String>,
        in_bom: bool,
        at: usize,
    ) -> Result<(), FormatError> {
        let local = start.local_name();
        let local = local.as_ref();
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(at, format!("elements nested deeper than {MAX_DEPTH}")));
        }
        let frame = match self.stack.last() {
            None if self.root.is_some() => return Err(self.error(at, format!("<{local}> after the root element"))),
            None => self.open_root(start, local, namespace, at)?,
            Some(_) if !in_bom => Frame::Skip,
            Some(parent) => child_frame(parent, local, start).map_err(|reason| self.error(at, reason))?,
        };
        self.stack.push(frame);
        Ok(())
    }

    fn open_root(
        &mut self,
        start: &BytesStart<'_>,
        local: &str,
        namespace: Option<String>,
        at: usize,
    ) -> Result<Frame, FormatError> {
        let not_cdx = |what: String| format!("not a CycloneDX BOM: {what}");
        if local != "bom" {
            return Err(self.error(at, not_cdx(format!("the root element is <{local}>, not <bom>"))));
        }
        let Some(ns) = namespace else {
            return Err(self.error(at, not_cdx(format!("<bom> has no namespace (expected {NAMESPACE_PREFIX}1.N)"))));
        };
        let Some(version) = ns.strip_prefix(NAMESPACE_PREFIX) else {
            return Err(self.error(at, not_cdx(format!("<bom> is in namespace `{ns}`, not {NAMESPACE_PREFIX}1.N"))));
        };
        if !SPEC_VERSIONS.contains(&version) {
            return Err(self.error(
                at,
                format!("CycloneDX {version} XML is not supported (versions {})", SPEC_VERSIONS.join(", ")),
            ));
        }
        let mut bom = Map::new();
        bom.insert("bomFormat".into(), json!("CycloneDX"));
        bom.insert("specVersion".into(), json!(version));
        if let Some(serial) = attribute(start, "serialNumber").map_err(|r| self.error(at, r))? {
            bom.insert("serialNumber".into(), json!(serial));
        }
        if let Some(v) = attribute(start, "version").map_err(|r| self.error(at, r))? {
            let n: u64 = v
                .trim()
                .parse()
                .map_err(|_| self.error(at, format!("<bom version=\"{v}\">: the version is not a whole number")))?;
            bom.insert("version".into(), json!(n));
        }
        self.namespace = Some(ns);
        Ok(Frame::Bom(bom))
    }

    fn text(&mut self, s: &str) {
        match self.stack.last_mut() {
            Some(Frame::Leaf { text, .. }) => text.push_str(s),
            Some(Frame::Hash { content, .. }) => content.push_str(s),
            _ => {}
        }
    }

    fn end(&mut self, at: usize) -> Result<(), FormatError> {
        let Some(frame) = self.stack.pop() else {
            return Err(self.error(at, "closing tag without an open element"));
        };
        if let Frame::Bom(bom) = frame {
            self.root = Some(bom);
            return Ok(());
        }
        let Some(parent) = self.stack.last_mut() else {
            return Ok(());
        };
        attach(parent, frame, &mut self.extra_dependencies);
        Ok(())
    }

    fn finish(mut self, at: usize) -> Result<Value, FormatError> {
        if !self.stack.is_empty() {
            return Err(self.error(at, "the document ends before the root element is closed (truncated?)"));
        }
        let Some(mut bom) = self.root.take() else {
            return Err(FormatError::new(self.path, Location::Document, "not a CycloneDX BOM: no root element"));
        };
        if !self.extra_dependencies.is_empty() {
            let list = bom.entry("dependencies").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.append(&mut self.extra_dependencies);
            }
        }
        Ok(Value::Object(bom))
    }
}

/// The frame a child element `name` of `parent` opens.
fn child_frame(parent: &Frame, name: &str, start: &BytesStart<'_>) -> Result<Frame, String> {
    use ListKind::*;
    Ok(match (parent, name) {
        (Frame::Bom(_), "metadata") => Frame::Metadata(Map::new()),
        (Frame::Bom(_), "components") | (Frame::Component(_), "components") => Frame::List(Components, Vec::new()),
        (Frame::Bom(_), "dependencies") => Frame::List(Dependencies, Vec::new()),
        (Frame::Metadata(_), "timestamp") => Frame::Leaf { key: "timestamp", text: String::new() },
        (Frame::Metadata(_), "component") | (Frame::List(Components, _), "component") => {
            Frame::Component(component_attributes(start)?)
        }
        (Frame::Component(_), "hashes") => Frame::List(Hashes, Vec::new()),
        (Frame::Component(_), "licenses") => Frame::List(Licenses, Vec::new()),
        (Frame::Component(_), other) => match component_member(other) {
            Some(key) => Frame::Leaf { key, text: String::new() },
            None => Frame::Skip,
        },
        (Frame::List(Hashes, _), "hash") => {
            let alg = attribute(start, "alg")?.ok_or("<hash> without an `alg` attribute")?;
            Frame::Hash { alg, content: String::new() }
        }
        (Frame::List(Licenses, _), "license") => Frame::License(Map::new()),
        (Frame::List(Licenses, _), "expression") => Frame::Leaf { key: "expression", text: String::new() },
        (Frame::License(_), "id") => Frame::Leaf { key: "id", text: String::new() },
        (Frame::License(_), "name") => Frame::Leaf { key: "name", text: String::new() },
        (Frame::License(_), "url") => Frame::Leaf { key: "url", text: String::new() },
        (Frame::List(Dependencies, _), "dependency") | (Frame::Dependency { .. }, "dependency") => {
            let reference = attribute(start, "ref")?.ok_or("<dependency> without a `ref` attribute")?;
            Frame::Dependency { reference, depends_on: Vec::new() }
        }
        _ => Frame::Skip,
    })
}

fn component_attributes(start: &BytesStart<'_>) -> Result<Map<String, Value>, String> {
    let mut c = Map::new();
    for name in ["type", "bom-ref", "mime-type"] {
        if let Some(v) = attribute(start, name)? {
            c.insert(name.into(), json!(v));
        }
    }
    Ok(c)
}

/// Puts a closed `child` into its `parent`.
fn attach(parent: &mut Frame, child: Frame, extra_dependencies: &mut Vec<Value>) {
    match (parent, child) {
        (Frame::List(ListKind::Licenses, list), Frame::Leaf { key: "expression", text }) => {
            list.push(json!({"expression": text.trim()}));
        }
        (Frame::Metadata(m) | Frame::Component(m) | Frame::License(m), Frame::Leaf { key, text }) => {
            m.insert(key.into(), json!(text.trim()));
        }
        (Frame::List(ListKind::Components, list), Frame::Component(c)) => list.push(Value::Object(c)),
        (Frame::Metadata(m), Frame::Component(c)) => {
            m.insert("component".into(), Value::Object(c));
        }
        (Frame::Bom(m) | Frame::Component(m), Frame::List(kind, list)) => {
            m.insert(kind.member().into(), Value::Array(list));
        }
        (Frame::Bom(m), Frame::Metadata(meta)) => {
            m.insert("metadata".into(), Value::Object(meta));
        }
        (Frame::List(ListKind::Hashes, list), Frame::Hash { alg, content }) => {
            list.push(json!({"alg": alg, "content": content.trim()}));
        }
        (Frame::List(ListKind::Licenses, list), Frame::License(l)) => list.push(json!({"license": l})),
        (Frame::List(ListKind::Dependencies, list), Frame::Dependency { reference, depends_on }) => {
            list.push(json!({"ref": reference, "dependsOn": depends_on}));
        }
        (Frame::Dependency { depends_on: outer, .. }, Frame::Dependency { reference, depends_on }) => {
            if !depends_on.is_empty() {
                extra_dependencies.push(json!({"ref": reference, "dependsOn": depends_on}));
            }
            outer.push(reference);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(doc: &str) -> Result<Value, FormatError> {
        to_json(doc, "bom.xml")
    }

    #[test]
    fn nested_components_hashes_licenses_and_dependencies() {
        let doc = r#"<?xml version="1.0"?>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" serialNumber="urn:uuid:1" version="2" xmlns:x="urn:other">
  <metadata><timestamp> 2024-01-02T03:04:05Z </timestamp>
    <tools><components><component type="application"><name>syft</name></component></components></tools>
    <component type="application" bom-ref="app"><name>app</name><version>1.0</version>
      <components><component type="library"><name>inner</name></component></components>
    </component>
  </metadata>
  <components>
    <component type="library" bom-ref="a"><group>g</group><name>a &amp; b</name><version>1</version>
      <purl>pkg:maven/g/a@1</purl><scope>optional</scope>
      <hashes><hash alg="SHA-256">abc</hash></hashes>
      <licenses><license><id>MIT</id></license><license><name>Custom</name></license></licenses>
      <x:extra><name>not read</name></x:extra>
      <components><component type="library"><name><![CDATA[deep]]></name></component></components>
    </component>
    <component type="library"><name>c</name><licenses><expression> MIT OR Apache-2.0 </expression></licenses></component>
  </components>
  <dependencies>
    <dependency ref="app"><dependency ref="a"><dependency ref="c"/></dependency></dependency>
  </dependencies>
</bom>"#;
        let v = convert(doc).expect("convert");
        assert_eq!(v["bomFormat"], "CycloneDX");
        assert_eq!(v["specVersion"], "1.5");
        assert_eq!(v["version"], 2);
        assert_eq!(v["serialNumber"], "urn:uuid:1");
        assert_eq!(v["metadata"]["timestamp"], "2024-01-02T03:04:05Z");
        assert_eq!(v["metadata"]["component"]["bom-ref"], "app");
        assert_eq!(v["metadata"]["component"]["components"][0]["name"], "inner");
        assert!(v["metadata"].get("tools").is_none());
        let a = &v["components"][0];
        assert_eq!(a["name"], "a & b");
        assert_eq!(a["group"], "g");
        assert_eq!(a["purl"], "pkg:maven/g/a@1");
        assert_eq!(a["scope"], "optional");
        assert_eq!(a["type"], "library");
        assert_eq!(a["hashes"], json!([{"alg": "SHA-256", "content": "abc"}]));
        assert_eq!(a["licenses"], json!([{"license": {"id": "MIT"}}, {"license": {"name": "Custom"}}]));
        assert_eq!(a["components"][0]["name"], "deep");
        assert!(a.get("extra").is_none());
        assert_eq!(v["components"][1]["licenses"], json!([{"expression": "MIT OR Apache-2.0"}]));
        assert_eq!(
            v["dependencies"],
            json!([{"ref": "app", "dependsOn": ["a"]}, {"ref": "a", "dependsOn": ["c"]}]),
            "a nested dependency with children is also listed on its own"
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases: [(&str, (u32, u32), &str); 9] = [
            ("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\">\n  <components>\n    <component", (3, 5), "syntax"),
            ("<?xml version=\"1.0\"?>\n<bomb/>", (2, 1), "not a CycloneDX BOM"),
            ("<bom/>", (1, 1), "no namespace"),
            ("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.1\"/>", (1, 1), "1.1 XML is not supported"),
            ("<bom xmlns=\"http://example.com/bom\"/>", (1, 1), "not a CycloneDX BOM"),
            (
                "<?xml version=\"1.0\"?>\n<!DOCTYPE bom [\n <!ENTITY lol \"lol\">\n]>\n<bom/>",
                (2, 1),
                "DOCTYPE declares entities",
            ),
            ("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\"><x>&ext;</x></bom>", (1, 53), "undeclared entity"),
            (
                "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\">\n<dependencies><dependency/></dependencies></bom>",
                (2, 15),
                "without a `ref`",
            ),
            ("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\">\n<components>\n", (3, 1), "truncated"),
        ];
        for (doc, (line, column), reason) in cases {
            let e = convert(doc).expect_err(doc);
            assert_eq!(e.path, "bom.xml");
            assert!(e.reason.contains(reason), "{doc}: {e}");
            assert_eq!(e.location, Location::LineColumn(line, column), "{doc}: {e}");
        }
        let e = convert("").expect_err("empty");
        assert_eq!(e.location, Location::Document);
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut doc = String::from("<bom xmlns=\"http://cyclonedx.org/schema/bom/1.4\">");
        for _ in 0..2000 {
            doc.push_str("<components><component type=\"library\">");
        }
        let e = convert(&doc).expect_err("too deep");
        assert!(e.reason.contains("nested deeper"), "{e}");
    }
}
