//! Version ordering per ecosystem, with OSV's ecosystem names.
//!
//! Each comparator is total (any two strings compare; garbage never panics) and is proven against
//! `../shared/data/versions/` (google/osv-scalibr's test data) where that data covers it.

pub mod alpine;
pub mod debian;
pub mod maven;
pub mod nuget;
pub mod packagist;
pub mod pypi;
pub mod rubygems;
pub mod semver;

use std::cmp::Ordering;

/// An OSV ecosystem trustloop orders versions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// `crates.io` (SemVer).
    CratesIo,
    /// `npm` (SemVer).
    Npm,
    /// `Go` (SemVer with `v` prefix, `+incompatible`, pseudo-versions).
    Go,
    /// `PyPI` (PEP 440).
    PyPI,
    /// `Debian` (dpkg ordering), any release (`Debian:12`).
    Debian,
    /// `Alpine` (apk ordering), any release (`Alpine:v3.20`).
    Alpine,
    /// `Maven` (the POM version order specification).
    Maven,
    /// `NuGet`.
    NuGet,
    /// `RubyGems` (`Gem::Version`).
    RubyGems,
    /// `Packagist` (PHP `version_compare`).
    Packagist,
}

impl Ecosystem {
    /// The ecosystem of an OSV `ecosystem` string (a `:release` suffix is allowed), if supported.
    pub fn from_osv(name: &str) -> Option<Ecosystem> {
        let base = name.split(':').next().unwrap_or(name).trim();
        Some(match base {
            "crates.io" => Ecosystem::CratesIo,
            "npm" => Ecosystem::Npm,
            "Go" => Ecosystem::Go,
            "PyPI" => Ecosystem::PyPI,
            "Debian" => Ecosystem::Debian,
            "Alpine" => Ecosystem::Alpine,
            "Maven" => Ecosystem::Maven,
            "NuGet" => Ecosystem::NuGet,
            "RubyGems" => Ecosystem::RubyGems,
            "Packagist" => Ecosystem::Packagist,
            _ => return None,
        })
    }

    /// OSV's name for the ecosystem.
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::Go => "Go",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Debian => "Debian",
            Ecosystem::Alpine => "Alpine",
            Ecosystem::Maven => "Maven",
            Ecosystem::NuGet => "NuGet",
            Ecosystem::RubyGems => "RubyGems",
            Ecosystem::Packagist => "Packagist",
        }
    }

    /// Name of the comparator, as findings report it.
    pub fn comparator(self) -> &'static str {
        match self {
            Ecosystem::CratesIo | Ecosystem::Npm | Ecosystem::Go => "semver",
            Ecosystem::PyPI => "pep440",
            Ecosystem::Debian => "dpkg",
            Ecosystem::Alpine => "apk",
            Ecosystem::Maven => "maven",
            Ecosystem::NuGet => "nuget",
            Ecosystem::RubyGems => "rubygems",
            Ecosystem::Packagist => "php-version-compare",
        }
    }

    /// Whether two package names denote the same package in this ecosystem (PyPI normalises names per
    /// PEP 503; crates.io treats `-` and `_` alike; the others compare exactly).
    pub fn same_package(self, a: &str, b: &str) -> bool {
        match self {
            Ecosystem::PyPI => pypi::normalize_name(a) == pypi::normalize_name(b),
            Ecosystem::CratesIo => a.replace('_', "-").eq_ignore_ascii_case(&b.replace('_', "-")),
            _ => a == b,
        }
    }

    /// Orders two versions of this ecosystem.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Ecosystem::CratesIo | Ecosystem::Npm | Ecosystem::Go => semver::compare(a, b),
            Ecosystem::PyPI => pypi::compare(a, b),
            Ecosystem::Debian => debian::compare(a, b),
            Ecosystem::Alpine => alpine::compare(a, b),
            Ecosystem::Maven => maven::compare(a, b),
            Ecosystem::NuGet => nuget::compare(a, b),
            Ecosystem::RubyGems => rubygems::compare(a, b),
            Ecosystem::Packagist => packagist::compare(a, b),
        }
    }
}

/// A version parsed once for repeated comparisons within one ecosystem (PyPI's PEP 440 parse is the
/// expensive one; other ecosystems compare their strings directly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A PyPI version key.
    PyPI(pypi::Key),
    /// Any other ecosystem's version string.
    Raw(String),
}

impl Ecosystem {
    /// Parses `v` for repeated comparisons with [`Ecosystem::compare_prepared`].
    pub fn prepare(self, v: &str) -> Prepared {
        match self {
            Ecosystem::PyPI => Prepared::PyPI(pypi::key(v)),
            _ => Prepared::Raw(v.to_string()),
        }
    }

    /// Compares two prepared versions of this ecosystem (as [`Ecosystem::compare`] would).
    pub fn compare_prepared(self, a: &Prepared, b: &Prepared) -> Ordering {
        match (a, b) {
            (Prepared::PyPI(x), Prepared::PyPI(y)) => x.cmp(y),
            (Prepared::Raw(x), Prepared::Raw(y)) => self.compare(x, y),
            // Mixed forms only arise from misuse across ecosystems: order them stably.
            (Prepared::PyPI(_), Prepared::Raw(_)) => Ordering::Less,
            (Prepared::Raw(_), Prepared::PyPI(_)) => Ordering::Greater,
        }
    }
}

#[cfg(test)]
mod oracle;
