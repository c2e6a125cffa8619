//! Lockfiles and manifests into packages: one module per kind, each with
//! `parse(text, path) -> Result<Parsed, FormatError>`, and [`Kind`] to tell a file's kind from its
//! name and content.
//!
//! What a kind cannot pin to one version (an unpinned requirement, a path or git dependency, a
//! workspace member, a Maven property that does not resolve) is not guessed: it goes to
//! [`Parsed::left_out`] with its reason, so an import can count it.

use crate::error::{FormatError, Location};

#[cfg(test)]
mod sniff_tests;

pub mod bun;
pub mod composer;
pub mod gemfile;
pub mod gomod;
pub mod gradle;
pub mod mix;
pub mod npm;
pub mod nuget;
pub mod pdm;
pub mod pipfile;
pub mod pnpm;
pub mod poetry;
pub mod pom;
pub mod pubspec;
pub mod renv;
pub mod requirements;
pub mod swift;
pub mod uv;
pub mod yarn;

/// One package a lockfile pins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Package {
    /// OSV ecosystem name: `npm`, `PyPI`, `Go`, `RubyGems`, `Packagist`, `Pub`, `Hex`, `Maven`,
    /// `NuGet`, `SwiftURL`, `CRAN`, `crates.io`.
    pub ecosystem: &'static str,
    /// Package name as the ecosystem's advisories write it (`@scope/name`, `group:artifact`,
    /// `github.com/org/mod`).
    pub name: String,
    /// The pinned version, as written (no `v` added or removed, except where the format itself
    /// strips one).
    pub version: String,
    /// Package URL (`pkg:npm/%40scope/name@1.2.3`).
    pub purl: String,
    /// Dependency groups as the lockfile names them (`dev`, `optional`, `test`, `peer`, a Poetry or
    /// PDM group name, ...), sorted and deduplicated; empty for a plain runtime dependency.
    pub groups: Vec<String>,
    /// Whether the project depends on it directly (`Some(true)`), only through other packages
    /// (`Some(false)`), or the format does not say (`None`).
    pub direct: Option<bool>,
    /// The 1-based line where the package's entry starts, where the format lets that be told.
    pub line: Option<u32>,
}

/// Why something a lockfile lists is not a [`Package`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LeftOutReason {
    /// No exact version (`requests>=2`, `*`, a range).
    Unpinned,
    /// A local path, link or workspace member: no registry identity.
    Local,
    /// Pinned to a git commit or a URL rather than a registry version.
    Vcs,
    /// A Maven version or coordinate that names a property or parent the file does not resolve.
    Unresolved(String),
    /// Anything else, said in words.
    Other(String),
}

impl std::fmt::Display for LeftOutReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeftOutReason::Unpinned => f.write_str("no pinned version"),
            LeftOutReason::Local => f.write_str("a local path or workspace member"),
            LeftOutReason::Vcs => f.write_str("a git or URL dependency"),
            LeftOutReason::Unresolved(what) => write!(f, "`{what}` does not resolve in the file"),
            LeftOutReason::Other(why) => f.write_str(why),
        }
    }
}

/// An entry of a lockfile that is not a package, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeftOut {
    /// The entry as written (`requests>=2`, `name@link:../x`).
    pub entry: String,
    /// Where it is.
    pub location: Location,
    /// Why it is left out.
    pub reason: LeftOutReason,
}

/// What a lockfile yields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The packages it pins, in the order the file lists them. A package a file installs at several
    /// places (npm's nested `node_modules`) may be listed once per place or once in all, as the kind
    /// says; importers merge by purl.
    pub packages: Vec<Package>,
    /// What it lists but does not pin.
    pub left_out: Vec<LeftOut>,
}

/// A kind of lockfile or manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `package-lock.json` (v1–v3) and `npm-shrinkwrap.json`.
    PackageLock,
    /// `yarn.lock`, v1 and berry.
    YarnLock,
    /// `pnpm-lock.yaml`, v5–v9.
    PnpmLock,
    /// `bun.lock` (text form).
    BunLock,
    /// `poetry.lock`.
    PoetryLock,
    /// `Pipfile.lock`.
    PipfileLock,
    /// `uv.lock`.
    UvLock,
    /// `pdm.lock`.
    PdmLock,
    /// `requirements.txt` and its kin (`*requirements*.txt`).
    Requirements,
    /// `go.mod`.
    GoMod,
    /// `Gemfile.lock` / `gems.locked`.
    GemfileLock,
    /// `composer.lock`.
    ComposerLock,
    /// `pubspec.lock`.
    PubspecLock,
    /// `mix.lock`.
    MixLock,
    /// `gradle.lockfile` and `buildscript-gradle.lockfile`.
    GradleLockfile,
    /// NuGet's `packages.lock.json`.
    NugetLock,
    /// Swift's `Package.resolved`.
    PackageResolved,
    /// `renv.lock`.
    RenvLock,
    /// Maven's `pom.xml`.
    PomXml,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 19] = [
        Kind::PackageLock,
        Kind::YarnLock,
        Kind::PnpmLock,
        Kind::BunLock,
        Kind::PoetryLock,
        Kind::PipfileLock,
        Kind::UvLock,
        Kind::PdmLock,
        Kind::Requirements,
        Kind::GoMod,
        Kind::GemfileLock,
        Kind::ComposerLock,
        Kind::PubspecLock,
        Kind::MixLock,
        Kind::GradleLockfile,
        Kind::NugetLock,
        Kind::PackageResolved,
        Kind::RenvLock,
        Kind::PomXml,
    ];

    /// The name `--kind` takes (`package-lock`, `yarn-lock`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::PackageLock => "package-lock",
            Kind::YarnLock => "yarn-lock",
            Kind::PnpmLock => "pnpm-lock",
            Kind::BunLock => "bun-lock",
            Kind::PoetryLock => "poetry-lock",
            Kind::PipfileLock => "pipfile-lock",
            Kind::UvLock => "uv-lock",
            Kind::PdmLock => "pdm-lock",
            Kind::Requirements => "requirements",
            Kind::GoMod => "go-mod",
            Kind::GemfileLock => "gemfile-lock",
            Kind::ComposerLock => "composer-lock",
            Kind::PubspecLock => "pubspec-lock",
            Kind::MixLock => "mix-lock",
            Kind::GradleLockfile => "gradle-lockfile",
            Kind::NugetLock => "nuget-lock",
            Kind::PackageResolved => "package-resolved",
            Kind::RenvLock => "renv-lock",
            Kind::PomXml => "pom-xml",
        }
    }

    /// The OSV ecosystem of the packages this kind pins.
    pub fn ecosystem(self) -> &'static str {
        match self {
            Kind::PackageLock | Kind::YarnLock | Kind::PnpmLock | Kind::BunLock => "npm",
            Kind::PoetryLock | Kind::PipfileLock | Kind::UvLock | Kind::PdmLock | Kind::Requirements => "PyPI",
            Kind::GoMod => "Go",
            Kind::GemfileLock => "RubyGems",
            Kind::ComposerLock => "Packagist",
            Kind::PubspecLock => "Pub",
            Kind::MixLock => "Hex",
            Kind::GradleLockfile | Kind::PomXml => "Maven",
            Kind::NugetLock => "NuGet",
            Kind::PackageResolved => "SwiftURL",
            Kind::RenvLock => "CRAN",
        }
    }

    /// The kind `--kind NAME` names.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind a file's name says it is (`package-lock.json`, `yarn.lock`, `dev-requirements.txt`),
    /// if any; `file_name` is the last path component.
    pub fn from_file_name(file_name: &str) -> Option<Kind> {
        Some(match file_name {
            "package-lock.json" | "npm-shrinkwrap.json" => Kind::PackageLock,
            "yarn.lock" => Kind::YarnLock,
            "pnpm-lock.yaml" => Kind::PnpmLock,
            "bun.lock" => Kind::BunLock,
            "poetry.lock" => Kind::PoetryLock,
            "Pipfile.lock" => Kind::PipfileLock,
            "uv.lock" => Kind::UvLock,
            "pdm.lock" => Kind::PdmLock,
            "go.mod" => Kind::GoMod,
            "Gemfile.lock" | "gems.locked" => Kind::GemfileLock,
            "composer.lock" => Kind::ComposerLock,
            "pubspec.lock" => Kind::PubspecLock,
            "mix.lock" => Kind::MixLock,
            "gradle.lockfile" | "buildscript-gradle.lockfile" => Kind::GradleLockfile,
            "packages.lock.json" => Kind::NugetLock,
            "Package.resolved" => Kind::PackageResolved,
            "renv.lock" => Kind::RenvLock,
            "pom.xml" => Kind::PomXml,
            n if n.ends_with(".txt") && n.contains("requirements") => Kind::Requirements,
            _ => return None,
        })
    }

    /// The kind a file's content says it is, for a file whose name does not tell (`--kind` forces
    /// one instead). Looks only at markers each format always writes near its start; `None` when no
    /// kind's marker is there. Requirements files have no marker and are only told by name.
    pub fn sniff(text: &str) -> Option<Kind> {
        let head: String = text.chars().take(4096).collect();
        let trimmed = head.trim_start_matches('\u{feff}').trim_start();
        let has = |needle: &str| head.contains(needle);
        if trimmed.starts_with('{') {
            return Some(if has("\"lockfileVersion\"") && has("\"workspaces\"") && !has("\"requires\"") {
                Kind::BunLock
            } else if has("\"lockfileVersion\"") {
                Kind::PackageLock
            } else if has("\"_meta\"") && has("\"pipfile-spec\"") {
                Kind::PipfileLock
            } else if has("\"content-hash\"") && has("\"packages\"") {
                Kind::ComposerLock
            } else if has("\"pins\"") {
                Kind::PackageResolved
            } else if has("\"Packages\"") && has("\"R\"") {
                Kind::RenvLock
            } else if has("\"dependencies\"") && has("\"version\"") {
                Kind::NugetLock
            } else {
                return None;
            });
        }
        if trimmed.starts_with("%{") {
            return Some(Kind::MixLock);
        }
        if trimmed.starts_with('<') {
            return has("<project").then_some(Kind::PomXml);
        }
        let lines = || head.lines().map(str::trim_end);
        let line_starts = |prefix: &str| lines().any(|l| l.starts_with(prefix));
        if has("# yarn lockfile v1") || line_starts("__metadata:") {
            return Some(Kind::YarnLock);
        }
        if line_starts("lockfileVersion:") {
            return Some(Kind::PnpmLock);
        }
        if has("# Generated by pub") || (line_starts("packages:") && has("\n    dependency: ")) {
            return Some(Kind::PubspecLock);
        }
        if ["GEM", "GIT", "PATH", "PLATFORMS", "BUNDLED WITH"].iter().any(|s| lines().any(|l| l == *s)) {
            return Some(Kind::GemfileLock);
        }
        if line_starts("module ") || line_starts("require (") || line_starts("require ") {
            return Some(Kind::GoMod);
        }
        if line_starts("[[package]]") {
            // Poetry and PDM write their `[metadata]` table last: look at the whole text.
            return Some(
                if text.contains("\n[metadata]") && (text.contains("lock_version") || text.contains("content_hash")) {
                    Kind::PdmLock
                } else if text.contains("\n[metadata]") {
                    Kind::PoetryLock
                } else if trimmed.starts_with("version = ") {
                    Kind::UvLock
                } else if text.contains("\n[package.source]") || text.contains("\npython-versions = ") {
                    Kind::PoetryLock
                } else {
                    return None;
                },
            );
        }
        let gradle_line = |l: &str| {
            let Some((coordinates, configurations)) = l.split_once('=') else { return false };
            coordinates.split(':').count() == 3 && !coordinates.contains(' ') && !configurations.contains(' ')
        };
        // Gradle: `group:artifact:version=configurations` lines, nothing shaped like another format.
        let foreign = |l: &str| l.contains('{') || l.contains(": ") || l.contains('"') || l.ends_with(':');
        if has("# This is a Gradle generated file")
            || (lines().any(gradle_line) && !lines().filter(|l| !l.starts_with('#')).any(foreign))
        {
            return Some(Kind::GradleLockfile);
        }
        None
    }

    /// Parses `text` (the file `path`) as this kind. `read` fetches a file another one includes
    /// (requirements' `-r`/`-c`), by the path as written there, relative to `path`'s folder.
    pub fn parse(
        self,
        text: &str,
        path: &str,
        read: &mut dyn FnMut(&str) -> Result<String, FormatError>,
    ) -> Result<Parsed, FormatError> {
        match self {
            Kind::PackageLock => npm::parse(text, path),
            Kind::YarnLock => yarn::parse(text, path),
            Kind::PnpmLock => pnpm::parse(text, path),
            Kind::BunLock => bun::parse(text, path),
            Kind::PoetryLock => poetry::parse(text, path),
            Kind::PipfileLock => pipfile::parse(text, path),
            Kind::UvLock => uv::parse(text, path),
            Kind::PdmLock => pdm::parse(text, path),
            Kind::Requirements => requirements::parse(text, path, read),
            Kind::GoMod => gomod::parse_with_sum(text, path, read),
            Kind::GemfileLock => gemfile::parse(text, path),
            Kind::ComposerLock => composer::parse(text, path),
            Kind::PubspecLock => pubspec::parse(text, path),
            Kind::MixLock => mix::parse(text, path),
            Kind::GradleLockfile => gradle::parse(text, path),
            Kind::NugetLock => nuget::parse(text, path),
            Kind::PackageResolved => swift::parse(text, path),
            Kind::RenvLock => renv::parse(text, path),
            Kind::PomXml => pom::parse_with(text, path, read),
        }
    }
}

/// The path `written` in the file `current` (a path relative to the top file's folder, as the
/// `read` closure of [`Kind::parse`] takes it): from `current`'s folder, with `.` and `..` folded
/// where they can be; an absolute path (`/x`, `C:\x`) as written.
pub(crate) fn join(current: &str, written: &str) -> String {
    if written.starts_with(['/', '\\']) || matches!(written.get(1..3), Some(":\\" | ":/")) {
        return written.to_string();
    }
    let mut parts: Vec<&str> = current.split(['/', '\\']).collect();
    parts.pop();
    for part in written.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

/// Builds a purl of type `ty` (`npm`, `pypi`, ...) with an optional namespace; `None` if the
/// `packageurl` crate refuses the parts.
pub fn purl(ty: &str, namespace: Option<&str>, name: &str, version: &str) -> Option<String> {
    let mut p = packageurl::PackageUrl::new(ty, name).ok()?;
    if let Some(ns) = namespace.filter(|n| !n.is_empty()) {
        p.with_namespace(ns).ok()?;
    }
    p.with_version(version).ok()?;
    Some(p.to_string())
}
