//! Maven's `pom.xml`, as far as the file itself tells: the `dependencies` of the project and of its
//! profiles active by default, each versioned by its own `version` or else by the file's
//! `dependencyManagement`, with `${...}` properties interpolated from the file's `properties` and
//! its own coordinates (`${project.version}`, `${project.parent.version}`, ...). The parent POM and
//! imported BOMs are not read: a version only they could give is left out as unresolved, and so is
//! a property the file does not define. A version range is left out as unpinned. Build plugins'
//! dependencies are not the project's and are skipped.
//!
//! A non-`compile` scope (`test`, `provided`, `runtime`, `system`) is the package's group. As
//! osv-scalibr does, declarations of one `groupId:artifactId:type:classifier` count once (the first),
//! and one `groupId:artifactId` yields one package (the last declaration's). The line of a package
//! is the line of its `<dependency>`.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::composer::LineIndex;
use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

/// How deep elements may nest before the input is refused.
const MAX_DEPTH: usize = 256;
/// How many times a property may expand into another.
const MAX_EXPANSIONS: usize = 32;

/// An element: its local name, text and children, and the line where it starts.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
    line: u32,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the child `name`, if it has any.
    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim()).filter(|t| !t.is_empty())
    }

    /// The children reached by following `path` (`["dependencies", "dependency"]`).
    fn all<'a>(&'a self, path: &'a [&'a str]) -> Vec<&'a Node> {
        match path.split_first() {
            None => vec![self],
            Some((first, rest)) => self.children(first).flat_map(|c| c.all(rest)).collect(),
        }
    }
}

/// One `<dependency>` with its coordinates interpolated (or why they are not).
struct Declared {
    group: String,
    artifact: String,
    kind: String,
    classifier: String,
    version: Option<String>,
    scope: Option<String>,
    line: u32,
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let root = read_tree(text, path)?;
    if root.name != "project" {
        return Err(FormatError::new(path, Location::Line(root.line), "not a pom.xml: the root is not `<project>`"));
    }
    let profiles: Vec<&Node> =
        root.all(&["profiles", "profile"]).into_iter().filter(|p| active_by_default(p)).collect();
    let scopes: Vec<&Node> = std::iter::once(&root).chain(profiles.iter().copied()).collect();
    let properties = properties(&root, &scopes);
    let mut parsed = Parsed::default();
    let mut managed: BTreeMap<Coordinates, (Option<String>, Option<String>)> = BTreeMap::new();
    for node in scopes.iter().flat_map(|s| s.all(&["dependencyManagement", "dependencies", "dependency"])) {
        if let Ok(d) = declared(node, &properties) {
            managed.entry(key(&d)).or_insert((d.version, d.scope));
        }
    }
    let mut kept: Vec<Declared> = Vec::new();
    for node in scopes.iter().flat_map(|s| s.all(&["dependencies", "dependency"])) {
        match declared(node, &properties) {
            Ok(mut d) => {
                if kept.iter().any(|k| key(k) == key(&d)) {
                    continue;
                }
                if let Some((version, scope)) = managed.get(&key(&d)) {
                    d.version = d.version.or_else(|| version.clone());
                    d.scope = d.scope.or_else(|| scope.clone());
                }
                kept.push(d);
            }
            Err((entry, reason)) => {
                parsed.left_out.push(LeftOut { entry, location: Location::Line(node.line), reason });
            }
        }
    }
    for d in last_per_coordinates(kept) {
        add(&mut parsed, d, &properties, path)?;
    }
    Ok(parsed)
}

/// Group, artifact, type and classifier.
type Coordinates = (String, String, String, String);

/// The key Maven tells declarations apart by: group, artifact, type (`jar` if unsaid), classifier.
fn key(d: &Declared) -> Coordinates {
    (d.group.clone(), d.artifact.clone(), d.kind.clone(), d.classifier.clone())
}

/// One declaration per `groupId:artifactId`: the last one's, at the first one's place.
fn last_per_coordinates(kept: Vec<Declared>) -> Vec<Declared> {
    let mut out: Vec<Declared> = Vec::new();
    for d in kept {
        match out.iter_mut().find(|o| o.group == d.group && o.artifact == d.artifact) {
            Some(slot) => *slot = d,
            None => out.push(d),
        }
    }
    out
}

/// Adds a declaration whose coordinates resolved: a package, or left out for its version.
fn add(parsed: &mut Parsed, d: Declared, properties: &BTreeMap<String, String>, path: &str) -> Result<(), FormatError> {
    let name = format!("{}:{}", d.group, d.artifact);
    let location = Location::Line(d.line);
    let version = match d.version.as_deref().map(|v| interpolate(v, properties)) {
        None => Err(LeftOutReason::Unresolved(format!("the version of {name} (from a parent or imported BOM)"))),
        Some(Err(property)) => Err(LeftOutReason::Unresolved(format!("${{{property}}}"))),
        Some(Ok(v)) if is_range(&v) => Err(LeftOutReason::Unpinned),
        Some(Ok(v)) => Ok(v),
    };
    let version = match version {
        Ok(v) => v,
        Err(reason) => {
            let entry = format!("{name}:{}", d.version.as_deref().unwrap_or(""));
            parsed.left_out.push(LeftOut { entry, location, reason });
            return Ok(());
        }
    };
    let purl = super::purl("maven", Some(&d.group), &d.artifact, &version)
        .ok_or_else(|| FormatError::new(path, location, format!("`{name}` is not a Maven coordinate")))?;
    let groups = match d.scope.as_deref() {
        None | Some("compile") => Vec::new(),
        Some(scope) => vec![scope.to_string()],
    };
    parsed.packages.push(Package {
        ecosystem: "Maven",
        name,
        version,
        purl,
        groups,
        direct: Some(true),
        line: Some(d.line),
    });
    Ok(())
}

/// Whether a version is a range or a moving keyword rather than one version.
fn is_range(version: &str) -> bool {
    version.starts_with(['[', '(']) || version.contains(',') || matches!(version, "LATEST" | "RELEASE")
}

/// A `<dependency>` with interpolated group and artifact, or the entry and why it is left out.
fn declared(node: &Node, properties: &BTreeMap<String, String>) -> Result<Declared, (String, LeftOutReason)> {
    let raw_group = node.text_of("groupId").unwrap_or("");
    let raw_artifact = node.text_of("artifactId").unwrap_or("");
    let entry = format!("{raw_group}:{raw_artifact}");
    let resolve = |raw: &str| -> Result<String, (String, LeftOutReason)> {
        interpolate(raw, properties).map_err(|p| (entry.clone(), LeftOutReason::Unresolved(format!("${{{p}}}"))))
    };
    let group = resolve(raw_group)?;
    let artifact = resolve(raw_artifact)?;
    if group.is_empty() || artifact.is_empty() {
        return Err((entry, LeftOutReason::Other("a dependency without a groupId or artifactId".to_string())));
    }
    let optional =
        |name: &str| node.text_of(name).map(|t| interpolate(t, properties).unwrap_or_else(|_| t.to_string()));
    Ok(Declared {
        group,
        artifact,
        kind: optional("type").unwrap_or_else(|| "jar".to_string()),
        classifier: optional("classifier").unwrap_or_default(),
        version: node.text_of("version").map(str::to_string),
        scope: optional("scope"),
        line: node.line,
    })
}

/// Whether a profile is active by default.
fn active_by_default(profile: &Node) -> bool {
    profile.child("activation").and_then(|a| a.text_of("activeByDefault")).is_some_and(|t| t == "true")
}

/// The properties the file defines (its own and its active profiles'), and its coordinates as
/// `project.*` (also `pom.*`) and `project.parent.*` (also `parent.*`).
fn properties(root: &Node, scopes: &[&Node]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let parent = root.child("parent");
    for field in ["groupId", "artifactId", "version"] {
        let parent_value = parent.and_then(|p| p.text_of(field));
        let own = root.text_of(field).or(if field == "artifactId" { None } else { parent_value });
        for (prefix, value) in
            [("project.", own), ("pom.", own), ("project.parent.", parent_value), ("parent.", parent_value)]
        {
            if let Some(v) = value {
                out.insert(format!("{prefix}{field}"), v.to_string());
            }
        }
    }
    for scope in scopes {
        for props in scope.children("properties") {
            for p in &props.children {
                out.insert(p.name.clone(), p.text.trim().to_string());
            }
        }
    }
    out
}

/// `text` with every `${name}` replaced from `properties` (repeatedly, up to a bound); the name of
/// the first property that does not resolve.
fn interpolate(text: &str, properties: &BTreeMap<String, String>) -> Result<String, String> {
    let mut current = text.to_string();
    for _ in 0..MAX_EXPANSIONS {
        let Some(start) = current.find("${") else {
            return Ok(current);
        };
        let Some(len) = current.get(start + 2..).and_then(|rest| rest.find('}')) else {
            return Err(current.get(start + 2..).unwrap_or("").to_string());
        };
        let name = current.get(start + 2..start + 2 + len).unwrap_or("").to_string();
        let Some(value) = properties.get(&name) else {
            return Err(name);
        };
        current =
            format!("{}{value}{}", current.get(..start).unwrap_or(""), current.get(start + 3 + len..).unwrap_or(""));
    }
    match current.find("${") {
        Some(start) => Err(current.get(start + 2..).unwrap_or("").chars().take_while(|&c| c != '}').collect()),
        None => Ok(current),
    }
}

/// Whether `name` is an XML name (letters, digits, `_`, `-`, `.`, `:`; not starting with a digit,
/// `-` or `.`).
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':' || !c.is_ascii());
    first_ok && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':') || !c.is_ascii())
}

/// Reads the document into a tree of elements; the root element.
fn read_tree(text: &str, path: &str) -> Result<Node, FormatError> {
    let lines = LineIndex::new(text);
    let line_at = |offset: u64| {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(text.len());
        lines.line_of(text, text.get(offset..).unwrap_or("")).unwrap_or(0)
    };
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let start = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            FormatError::new(
                path,
                Location::Line(line_at(reader.error_position())),
                format!("not well-formed XML: {e}"),
            )
        })?;
        let error = |why: String| FormatError::new(path, Location::Line(line_at(start)), why);
        match event {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(error("a second root element".to_string()));
            }
            Event::Start(e) => {
                let name = element_name(e.name().as_ref()).map_err(&error)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(error("elements nest too deep".to_string()));
                }
                stack.push(Node { name, line: line_at(start), ..Node::default() });
            }
            Event::Empty(e) => {
                let name = element_name(e.name().as_ref()).map_err(&error)?;
                let node = Node { name, line: line_at(start), ..Node::default() };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| error("an end tag without a start".to_string()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(node) => node.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(error("text outside the root element".to_string())),
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| error(format!("an unknown entity `&{};`", &*r)))?
                        .to_string(),
                    Err(e) => return Err(error(format!("a bad character reference: {e}"))),
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(FormatError::new(path, Location::Document, "the document ends inside an element"));
    }
    root.ok_or_else(|| FormatError::new(path, Location::Document, "not a pom.xml: no root element"))
}

/// The local name of an element, if it is an XML name.
fn element_name(qualified: &str) -> Result<String, String> {
    if !is_xml_name(qualified) {
        return Err(format!("`{qualified}` is not an element name"));
    }
    Ok(qualified.rsplit(':').next().unwrap_or(qualified).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <groupId>org.acme</groupId>
  <artifactId>app</artifactId>
  <parent>
    <groupId>org.acme</groupId>
    <artifactId>parent</artifactId>
    <version>7.1</version>
  </parent>
  <properties>
    <lib.version>2.3.4</lib.version>
    <nested>${lib.version}</nested>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency>
        <groupId>org.managed</groupId>
        <artifactId>m</artifactId>
        <version>3.0.0</version>
        <scope>provided</scope>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <build><plugins><plugin><dependencies><dependency>
    <groupId>org.plugin</groupId><artifactId>p</artifactId><version>1</version>
  </dependency></dependencies></plugin></plugins></build>
  <dependencies>
    <dependency>
      <groupId>org.lib</groupId>
      <artifactId>lib</artifactId>
      <version>${nested}</version>
    </dependency>
    <dependency>
      <groupId>${project.groupId}</groupId>
      <artifactId>sibling</artifactId>
      <version>${project.version}</version>
      <scope>test</scope>
    </dependency>
    <dependency>
      <groupId>org.managed</groupId>
      <artifactId>m</artifactId>
    </dependency>
    <dependency>
      <groupId>org.range</groupId>
      <artifactId>r</artifactId>
      <version>[1.0,2.0)</version>
    </dependency>
    <dependency>
      <groupId>org.unknown</groupId>
      <artifactId>u</artifactId>
      <version>${nope}</version>
    </dependency>
    <dependency>
      <groupId>org.bom</groupId>
      <artifactId>b</artifactId>
    </dependency>
    <dependency>
      <artifactId>no-group</artifactId>
    </dependency>
  </dependencies>
  <profiles>
    <profile>
      <activation><activeByDefault>true</activeByDefault></activation>
      <dependencies><dependency>
        <groupId>org.profile</groupId><artifactId>on</artifactId><version>1.0&#46;1</version>
      </dependency></dependencies>
    </profile>
    <profile>
      <dependencies><dependency>
        <groupId>org.profile</groupId><artifactId>off</artifactId><version>1</version>
      </dependency></dependencies>
    </profile>
  </profiles>
</project>
"#;

    #[test]
    fn dependencies_properties_and_management() {
        let parsed = parse(POM, "pom.xml").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.groups.clone(), p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("org.lib:lib", "2.3.4", vec![], Some(28)),
                ("org.acme:sibling", "7.1", vec!["test".to_string()], Some(33)),
                ("org.managed:m", "3.0.0", vec!["provided".to_string()], Some(39)),
                ("org.profile:on", "1.0.1", vec![], Some(64)),
            ]
        );
        assert_eq!(parsed.packages[0].purl, "pkg:maven/org.lib/lib@2.3.4");
        let left: Vec<_> =
            parsed.left_out.iter().map(|l| (l.entry.as_str(), l.reason.clone(), l.location.clone())).collect();
        assert_eq!(left[0].0, ":no-group");
        assert_eq!(left[0].2, Location::Line(57));
        assert_eq!(left[1], ("org.range:r:[1.0,2.0)", LeftOutReason::Unpinned, Location::Line(43)));
        assert_eq!(
            left[2],
            ("org.unknown:u:${nope}", LeftOutReason::Unresolved("${nope}".to_string()), Location::Line(48))
        );
        assert!(matches!(&left[3].1, LeftOutReason::Unresolved(w) if w.contains("org.bom:b")));
        assert_eq!(left.len(), 4);
    }

    #[test]
    fn duplicates_as_scalibr() {
        let pom = "<project><dependencies>
<dependency><groupId>a</groupId><artifactId>b</artifactId><version>1.0.0</version></dependency>
<dependency><groupId>a</groupId><artifactId>b</artifactId><version>1.1.1</version></dependency>
<dependency><groupId>a</groupId><artifactId>b</artifactId><classifier>x</classifier><version>2</version></dependency>
</dependencies></project>";
        let parsed = parse(pom, "pom.xml").expect("parses");
        let got: Vec<_> = parsed.packages.iter().map(|p| (p.version.as_str(), p.line)).collect();
        assert_eq!(got, vec![("2", Some(4))]);
    }

    #[test]
    fn errors() {
        assert!(parse("this is not a pom.xml file!", "pom.xml").is_err());
        let e = parse("<project>\n<properties>\n<${Id}.version>1</${Id}.version>\n</properties></project>", "pom.xml")
            .expect_err("bad name");
        assert_eq!(e.location, Location::Line(3));
        assert!(parse("<project><a></b></project>", "pom.xml").is_err());
        assert!(parse("<project>", "pom.xml").is_err());
        assert!(parse("<other/>", "pom.xml").is_err());
        assert!(parse(&"<a>".repeat(1000), "pom.xml").is_err());
        assert!(parse("<project>&bogus;</project>", "pom.xml").is_err());
        assert_eq!(parse("<project/>", "pom.xml").expect("empty"), Parsed::default());
    }

    #[test]
    fn interpolation_bounds() {
        let mut props = BTreeMap::new();
        props.insert("a".to_string(), "${a}".to_string());
        props.insert("b".to_string(), "x${c}".to_string());
        props.insert("c".to_string(), "y".to_string());
        assert_eq!(interpolate("${a}", &props), Err("a".to_string()));
        assert_eq!(interpolate("v${b}", &props), Ok("vxy".to_string()));
        assert_eq!(interpolate("${unclosed", &props), Err("unclosed".to_string()));
    }
}
