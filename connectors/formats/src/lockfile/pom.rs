//! Maven's `pom.xml`: the `dependencies` of the project and of its profiles active by default, each
//! versioned by its own `version` or else by the `dependencyManagement`, with `${...}` properties
//! interpolated from the `properties` and the file's own coordinates (`${project.version}`,
//! `${project.parent.version}`, ...). [`parse_with`] also reads the local parent POMs, as Maven and
//! osv-scalibr do: each at its `<relativePath>` when it is the `<parent>` named there, inheriting its
//! `properties`, `dependencyManagement` and `dependencies` (the child's win); what the parent
//! declares is reported at the line of the child's `<parent>`. Imported BOMs and parents from a
//! registry are not read: a version only they could give is left out as unresolved, and so is a
//! property nothing defines. A version range is left out as unpinned. Build plugins' dependencies
//! are not the project's and are skipped.
//!
//! A non-`compile` scope (`test`, `provided`, `runtime`, `system`) is the package's group. As
//! osv-scalibr does, declarations of one `groupId:artifactId:type:classifier` count once (the first),
//! and one `groupId:artifactId` yields one package (the last declaration's). The line of a package
//! is the line of its `<dependency>`, or of the `<parent>` for one a parent declares.

use std::collections::{BTreeMap, BTreeSet};

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use super::composer::LineIndex;
use super::{LeftOut, LeftOutReason, Package, Parsed, join};
use crate::error::{FormatError, Location};

/// How deep elements may nest before the input is refused.
const MAX_DEPTH: usize = 256;
/// How many times a property may expand into another.
const MAX_EXPANSIONS: usize = 32;
/// How many parent POMs are read above the file.
const MAX_PARENTS: usize = 16;

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

/// Parses the file `path` with text `text` alone: what only a parent POM could give is left out.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    parse_with(text, path, &mut |p| Err(FormatError::new(p, Location::Document, "no parent POM is read")))
}

/// Parses the file `path` with text `text` and the local parent POMs it names, which `read`
/// fetches by their path relative to `path`'s folder. A parent that cannot be read, does not parse
/// or is not the `<parent>` the child names is skipped, and so are the ancestors above it.
pub fn parse_with(
    text: &str,
    path: &str,
    read: &mut dyn FnMut(&str) -> Result<String, FormatError>,
) -> Result<Parsed, FormatError> {
    let root = read_tree(text, path)?;
    if root.name != "project" {
        return Err(FormatError::new(path, Location::Line(root.line), "not a pom.xml: the root is not `<project>`"));
    }
    let ancestors = ancestors(&root, path, read);
    let parent_line = root.child("parent").map(|p| p.line);
    let layers: Vec<Layer> =
        std::iter::once(Layer::new(&root, None)).chain(ancestors.iter().map(|a| Layer::new(a, parent_line))).collect();
    let properties = properties(&root, ancestors.first(), &layers);
    let mut parsed = Parsed::default();
    let mut managed: BTreeMap<Coordinates, (Option<String>, Option<String>)> = BTreeMap::new();
    for (node, _) in layers.iter().flat_map(|l| l.all(&["dependencyManagement", "dependencies", "dependency"])) {
        if let Ok(d) = declared(node, &properties) {
            managed.entry(key(&d)).or_insert((d.version, d.scope));
        }
    }
    let mut kept: Vec<Declared> = Vec::new();
    for (node, line) in layers.iter().flat_map(|l| l.all(&["dependencies", "dependency"])) {
        match declared(node, &properties) {
            Ok(mut d) => {
                if kept.iter().any(|k| key(k) == key(&d)) {
                    continue;
                }
                if let Some((version, scope)) = managed.get(&key(&d)) {
                    d.version = d.version.or_else(|| version.clone());
                    d.scope = d.scope.or_else(|| scope.clone());
                }
                d.line = line;
                kept.push(d);
            }
            Err((entry, reason)) => {
                parsed.left_out.push(LeftOut { entry, location: Location::Line(line), reason });
            }
        }
    }
    for d in last_per_coordinates(kept) {
        add(&mut parsed, d, &properties, path)?;
    }
    Ok(parsed)
}

/// One POM of the inheritance chain: its root and active profiles, and the line its entries are
/// reported at (the child's `<parent>` for an ancestor's; `None`: their own).
struct Layer<'a> {
    scopes: Vec<&'a Node>,
    line: Option<u32>,
}

impl<'a> Layer<'a> {
    fn new(root: &'a Node, line: Option<u32>) -> Self {
        let profiles = root.all(&["profiles", "profile"]).into_iter().filter(|p| active_by_default(p));
        Layer { scopes: std::iter::once(root).chain(profiles).collect(), line }
    }

    /// The nodes at `path` in every scope, each with the line to report it at.
    fn all(&self, path: &'a [&'a str]) -> Vec<(&'a Node, u32)> {
        self.scopes.iter().flat_map(|s| s.all(path)).map(|n| (n, self.line.unwrap_or(n.line))).collect()
    }
}

/// The parent POMs of `root` (the file `path`) that `read` finds, nearest first: each at its
/// `<relativePath>` (`../pom.xml` if unsaid, none if empty; `DIR/pom.xml` for a folder), kept only
/// if its coordinates are the `<parent>`'s and its packaging is `pom`; at most [`MAX_PARENTS`],
/// stopping where a file or coordinate comes round again.
fn ancestors(root: &Node, path: &str, read: &mut dyn FnMut(&str) -> Result<String, FormatError>) -> Vec<Node> {
    let own = path.rsplit(['/', '\\']).next().unwrap_or(path).to_string();
    let mut files = BTreeSet::from([own.clone()]);
    let mut seen = BTreeSet::from([coordinates_of(root)]);
    let mut current = own;
    let mut out: Vec<Node> = Vec::new();
    while out.len() < MAX_PARENTS {
        let Some((wanted, relative)) = out.last().unwrap_or(root).child("parent").and_then(parent_reference) else {
            break;
        };
        let Some((file, node)) = load(&current, &relative, read) else { break };
        let found = coordinates_of(&node);
        let matches = found.0 == wanted.0
            && found.1 == wanted.1
            && wanted.2.as_ref().is_none_or(|v| *v == found.2)
            && node.text_of("packaging") == Some("pom");
        if !matches || !files.insert(file.clone()) || !seen.insert(found) {
            break;
        }
        current = file;
        out.push(node);
    }
    out
}

/// The group, artifact and (if said) version a `<parent>` names.
type ParentCoordinates = (String, String, Option<String>);

/// What a `<parent>` names: group, artifact and version (if said), and where the file is (`../pom.xml`
/// if unsaid); `None` without a group or artifact, or with an empty `<relativePath/>`.
fn parent_reference(parent: &Node) -> Option<(ParentCoordinates, String)> {
    let group = parent.text_of("groupId")?.to_string();
    let artifact = parent.text_of("artifactId")?.to_string();
    let relative = match parent.child("relativePath") {
        None => "../pom.xml".to_string(),
        Some(r) => r.text.trim().to_string(),
    };
    if relative.is_empty() {
        return None;
    }
    Some(((group, artifact, parent.text_of("version").map(str::to_string)), relative))
}

/// Reads and parses the POM at `relative` from the file `current` (both relative to the top
/// file's folder): that file, or `pom.xml` in it if it names a folder. Its path and root element.
fn load(
    current: &str,
    relative: &str,
    read: &mut dyn FnMut(&str) -> Result<String, FormatError>,
) -> Option<(String, Node)> {
    let target = join(current, relative);
    let (file, text) = match read(&target) {
        Ok(text) => (target, text),
        Err(_) if !target.to_ascii_lowercase().ends_with(".xml") => {
            let inside = if target.is_empty() { "pom.xml".to_string() } else { format!("{target}/pom.xml") };
            let text = read(&inside).ok()?;
            (inside, text)
        }
        Err(_) => return None,
    };
    let node = read_tree(&text, &file).ok().filter(|n| n.name == "project")?;
    Some((file, node))
}

/// A POM's group, artifact and version, the group and version from its `<parent>` where unsaid.
fn coordinates_of(root: &Node) -> (String, String, String) {
    let field = |name: &str| {
        root.text_of(name)
            .or_else(|| if name == "artifactId" { None } else { root.child("parent").and_then(|p| p.text_of(name)) })
            .unwrap_or("")
            .to_string()
    };
    (field("groupId"), field("artifactId"), field("version"))
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

/// The properties of the chain (a nearer POM's win; the file's own, with its active profiles',
/// last), and the file's coordinates as `project.*` (also `pom.*`) and `project.parent.*` (also
/// `parent.*`), those of the parent read from its file where the `<parent>` does not say them.
fn properties(root: &Node, parent_file: Option<&Node>, layers: &[Layer]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for layer in layers.iter().skip(1).rev() {
        insert_properties(&mut out, &layer.scopes);
    }
    let parent = root.child("parent");
    let from_file = parent_file.map(coordinates_of);
    for (i, field) in ["groupId", "artifactId", "version"].into_iter().enumerate() {
        let file_value = from_file.as_ref().map(|(g, a, v)| [g, a, v][i].as_str()).filter(|v| !v.is_empty());
        let parent_value = parent.and_then(|p| p.text_of(field)).or(file_value);
        let own = root.text_of(field).or(if field == "artifactId" { None } else { parent_value });
        for (prefix, value) in
            [("project.", own), ("pom.", own), ("project.parent.", parent_value), ("parent.", parent_value)]
        {
            if let Some(v) = value {
                out.insert(format!("{prefix}{field}"), v.to_string());
            }
        }
    }
    if let Some(own) = layers.first() {
        insert_properties(&mut out, &own.scopes);
    }
    out
}

/// Inserts the `<properties>` of each scope, later ones over earlier ones.
fn insert_properties(out: &mut BTreeMap<String, String>, scopes: &[&Node]) {
    for scope in scopes {
        for props in scope.children("properties") {
            for p in &props.children {
                out.insert(p.name.clone(), p.text.trim().to_string());
            }
        }
    }
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

    /// A reader over `files` (paths relative to the parsed file's folder); counts its calls.
    fn reader<'a>(
        files: &'a [(&'a str, &'a str)],
        calls: &'a mut Vec<String>,
    ) -> impl FnMut(&str) -> Result<String, FormatError> + 'a {
        move |p: &str| {
            calls.push(p.to_string());
            files
                .iter()
                .find(|(name, _)| *name == p)
                .map(|(_, text)| text.to_string())
                .ok_or_else(|| FormatError::new(p, Location::Document, "missing"))
        }
    }

    fn versions(parsed: &Parsed) -> Vec<(&str, &str, Option<u32>)> {
        parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.line)).collect()
    }

    const CHILD: &str = "<project>
  <artifactId>child</artifactId>
  <parent>
    <groupId>org.acme</groupId><artifactId>mid</artifactId><version>2</version>
    <relativePath>../mid</relativePath>
  </parent>
  <properties><b.version>2.0-child</b.version></properties>
  <dependencies>
    <dependency><groupId>org.a</groupId><artifactId>a</artifactId></dependency>
    <dependency><groupId>org.b</groupId><artifactId>b</artifactId><version>${b.version}</version></dependency>
    <dependency><groupId>org.c</groupId><artifactId>c</artifactId><version>${project.parent.version}</version></dependency>
  </dependencies>
</project>";

    const MID: &str = "<project>
  <groupId>org.acme</groupId><artifactId>mid</artifactId><version>2</version><packaging>pom</packaging>
  <parent><groupId>org.acme</groupId><artifactId>top</artifactId><version>1</version></parent>
  <properties><b.version>2.0-mid</b.version><a.version>1.0-mid</a.version></properties>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.a</groupId><artifactId>a</artifactId><version>${a.version}</version></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.b</groupId><artifactId>b</artifactId><version>9</version></dependency>
    <dependency><groupId>org.mid</groupId><artifactId>m</artifactId><version>${top.version}</version></dependency>
  </dependencies>
</project>";

    const TOP: &str = "<project>
  <groupId>org.acme</groupId><artifactId>top</artifactId><version>1</version><packaging>pom</packaging>
  <properties><a.version>1.0-top</a.version><top.version>3.0</top.version></properties>
  <dependencies>
    <dependency><groupId>org.top</groupId><artifactId>t</artifactId><version>${project.version}</version></dependency>
  </dependencies>
</project>";

    #[test]
    fn parents_are_inherited() {
        let files = [("../mid/pom.xml", MID), ("../pom.xml", TOP)];
        let mut calls = Vec::new();
        let parsed = parse_with(CHILD, "app/pom.xml", &mut reader(&files, &mut calls)).expect("parses");
        assert_eq!(
            versions(&parsed),
            vec![
                ("org.a:a", "1.0-mid", Some(9)),
                ("org.b:b", "2.0-child", Some(10)),
                ("org.c:c", "2", Some(11)),
                ("org.mid:m", "3.0", Some(3)),
                ("org.top:t", "2", Some(3)),
            ]
        );
        assert!(parsed.left_out.is_empty(), "{:?}", parsed.left_out);
        assert_eq!(calls, vec!["../mid", "../mid/pom.xml", "../pom.xml"]);
        assert_eq!(parsed.packages[0].purl, "pkg:maven/org.a/a@1.0-mid");
    }

    #[test]
    fn parse_alone_leaves_inherited_versions_out() {
        let parsed = parse(CHILD, "pom.xml").expect("parses");
        assert_eq!(versions(&parsed), vec![("org.b:b", "2.0-child", Some(10)), ("org.c:c", "2", Some(11))]);
        assert!(matches!(&parsed.left_out[..], [l] if l.entry == "org.a:a:" && l.location == Location::Line(9)));
    }

    #[test]
    fn a_parent_with_other_coordinates_is_ignored() {
        let wrong_version = MID.replace("<version>2</version>", "<version>3</version>");
        let not_pom = MID.replace("<packaging>pom</packaging>", "");
        for mid in [wrong_version.as_str(), not_pom.as_str(), "<project", "<other/>"] {
            let files = [("../mid/pom.xml", mid), ("../pom.xml", TOP)];
            let mut calls = Vec::new();
            let parsed = parse_with(CHILD, "app/pom.xml", &mut reader(&files, &mut calls)).expect("parses");
            assert_eq!(versions(&parsed), vec![("org.b:b", "2.0-child", Some(10)), ("org.c:c", "2", Some(11))]);
            assert_eq!(parsed.left_out.len(), 1, "{mid}");
            assert_eq!(calls, vec!["../mid", "../mid/pom.xml"], "the grandparent is not read past a mismatch");
        }
    }

    #[test]
    fn missing_or_empty_relative_path() {
        let mut calls = Vec::new();
        let parsed = parse_with(CHILD, "app/pom.xml", &mut reader(&[], &mut calls)).expect("parses");
        assert_eq!(parsed, parse(CHILD, "app/pom.xml").expect("parses"));
        let empty = CHILD.replace("<relativePath>../mid</relativePath>", "<relativePath/>");
        let files = [("../mid/pom.xml", MID), ("../pom.xml", MID)];
        let mut calls = Vec::new();
        let parsed = parse_with(&empty, "app/pom.xml", &mut reader(&files, &mut calls)).expect("parses");
        assert!(calls.is_empty(), "{calls:?}");
        assert_eq!(parsed.packages.len(), 2);
        // No `<relativePath>`: `../pom.xml`.
        let default = CHILD.replace("<relativePath>../mid</relativePath>", "");
        let mut calls = Vec::new();
        let parsed = parse_with(&default, "app/pom.xml", &mut reader(&files, &mut calls)).expect("parses");
        assert_eq!(calls, vec!["../pom.xml", "../../pom.xml"]);
        assert_eq!(parsed.packages.len(), 3);
        let left = &parsed.left_out[..];
        assert!(matches!(left, [l] if l.reason == LeftOutReason::Unresolved("${top.version}".to_string())), "{left:?}");
        assert_eq!(left[0].location, Location::Line(3));
    }

    #[test]
    fn a_cycle_of_parents_ends() {
        // mid names itself as its own parent at `../pom.xml`, then by another path.
        let looping = MID.replace(
            "<artifactId>top</artifactId><version>1</version>",
            "<artifactId>mid</artifactId><version>2</version>",
        );
        let files = [("../mid/pom.xml", looping.as_str()), ("../pom.xml", looping.as_str())];
        let mut calls = Vec::new();
        let parsed = parse_with(CHILD, "app/pom.xml", &mut reader(&files, &mut calls)).expect("parses");
        assert_eq!(calls, vec!["../mid", "../mid/pom.xml", "../pom.xml"]);
        assert!(parsed.packages.iter().any(|p| p.name == "org.a:a"));
        // A child that is its own parent's parent: the coordinates come round again.
        let child = CHILD.replace(
            "<artifactId>child</artifactId>",
            "<groupId>org.acme</groupId><artifactId>top</artifactId><version>1</version>",
        );
        let files = [("../mid/pom.xml", MID), ("../pom.xml", child.as_str())];
        let mut calls = Vec::new();
        parse_with(&child, "app/pom.xml", &mut reader(&files, &mut calls)).expect("parses");
        assert_eq!(calls, vec!["../mid", "../mid/pom.xml", "../pom.xml"]);
    }

    #[test]
    fn the_chain_is_bounded() {
        let chain = "<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version>
<packaging>pom</packaging><parent><groupId>g</groupId><artifactId>a</artifactId>
<relativePath>x/pom.xml</relativePath></parent></project>";
        let mut calls = 0;
        let mut read = |_: &str| {
            calls += 1;
            Ok::<_, FormatError>(chain.replacen(
                "<artifactId>a</artifactId><version>1</version>",
                &format!("<artifactId>a</artifactId><version>{calls}</version>"),
                1,
            ))
        };
        parse_with("<project><parent><groupId>g</groupId><artifactId>a</artifactId><relativePath>x/pom.xml</relativePath></parent></project>", "pom.xml", &mut read).expect("parses");
        assert_eq!(calls, MAX_PARENTS);
    }

    #[test]
    fn joins_paths() {
        assert_eq!(join("pom.xml", "../pom.xml"), "../pom.xml");
        assert_eq!(join("a/pom.xml", "../b/pom.xml"), "b/pom.xml");
        assert_eq!(join("x.xml", "./parent/pom.xml"), "parent/pom.xml");
        assert_eq!(join("a/pom.xml", "/abs/pom.xml"), "/abs/pom.xml");
        assert_eq!(join("../pom.xml", "../pom.xml"), "../../pom.xml");
    }
}
