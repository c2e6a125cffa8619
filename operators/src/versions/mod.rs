//! Version ordering per ecosystem, with OSV's ecosystem names.
//!
//! Each comparator is total (any two strings compare; garbage never panics) and is proven against
//! `../shared/data/versions/` (google/osv-scalibr's test data) where that data covers it.

pub mod alpine;
pub mod cran;
pub mod debian;
pub mod distro;
pub mod hackage;
pub mod maven;
pub mod nuget;
pub mod opam;
pub mod packagist;
pub mod pub_semver;
pub mod pypi;
pub mod rpm;
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
    /// `Ubuntu` (dpkg ordering), any release (`Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`).
    Ubuntu,
    /// `Red Hat` (rpm ordering), any product stream (`Red Hat:enterprise_linux:9::appstream`).
    RedHat,
    /// `AlmaLinux` (rpm ordering), any release (`AlmaLinux:9`).
    AlmaLinux,
    /// `Rocky Linux` (rpm ordering), any release (`Rocky Linux:9`).
    RockyLinux,
    /// `SUSE` (rpm ordering), any product (`SUSE:Linux Enterprise Server 15 SP5`).
    Suse,
    /// `openSUSE` (rpm ordering), any release (`openSUSE:Leap 15.5`).
    OpenSuse,
    /// `Mageia` (rpm ordering), any release (`Mageia:9`).
    Mageia,
    /// `openEuler` (rpm ordering), any release (`openEuler:22.03-LTS-SP3`).
    OpenEuler,
    /// `Photon OS` (rpm ordering), any release (`Photon OS:5.0`).
    PhotonOs,
    /// `Azure Linux` (rpm ordering), any release.
    AzureLinux,
    /// `Wolfi` (apk ordering).
    Wolfi,
    /// `Chainguard` (apk ordering).
    Chainguard,
    /// `MinimOS` (apk ordering).
    MinimOs,
    /// `Alpaquita` (BellSoft's Alpaquita Linux, apk ordering).
    Alpaquita,
    /// `BellSoft Hardened Containers` (Alpaquita packages, apk ordering).
    BellSoftHardenedContainers,
    /// `Hex` (SemVer).
    Hex,
    /// `Pub` (pub's SemVer, where build metadata counts).
    Pub,
    /// `CRAN` (R's `package_version`).
    Cran,
    /// `Bioconductor` (R's `package_version`).
    Bioconductor,
    /// `Hackage` (Haskell's `Data.Version`).
    Hackage,
    /// `GHC` (Haskell's `Data.Version`).
    Ghc,
    /// `SwiftURL` (SemVer).
    SwiftUrl,
    /// `Bitnami` (SemVer).
    Bitnami,
    /// `GitHub Actions` (SemVer tags).
    GitHubActions,
    /// `Kubernetes` (SemVer).
    Kubernetes,
    /// `VSCode` (extension versions, SemVer).
    VsCode,
    /// `opam` (OCaml; Debian's string ordering over the whole version).
    Opam,
}

/// OSV ecosystems (as OSV's schema lists them in `osv-ecosystems.txt`) that trustloop does not order,
/// with the reason.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("Android", "versions are Android releases and security patch levels of git projects, not package versions"),
    ("CleanStart", "vendor images over several package formats; no version ordering is specified"),
    (
        "ConanCenter",
        "Conan's version model (arbitrary segments, `cci.DATE` recipes) is not SemVer and is not implemented",
    ),
    (
        "Docker Hardened Images",
        "packages of Debian- and Alpine-based images under one name: the ordering depends on the image",
    ),
    ("Echo", "vendor images over several package formats; its ordering is not implemented"),
    ("FreeBSD", "FreeBSD `pkg` ordering (`pkg_version_cmp`, `_`/`,` revisions and epochs) is not implemented"),
    ("GIT", "not an ecosystem of versions: ranges are git commits, which need the repository's history"),
    ("Julia", "Julia's `VersionNumber` also orders build metadata; not implemented"),
    ("Linux", "the kernel's advisories are ranges of git commits and kernel releases across stable branches"),
    ("OSS-Fuzz", "affected ranges are git commits of the fuzzed project"),
    ("Root", "patched packages of several distributions under one name: the ordering depends on the distribution"),
    ("TuxCare", "extended support packages of several distributions (deb and rpm) under one name"),
];

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
            "Ubuntu" => Ecosystem::Ubuntu,
            "Red Hat" => Ecosystem::RedHat,
            "AlmaLinux" => Ecosystem::AlmaLinux,
            "Rocky Linux" => Ecosystem::RockyLinux,
            "SUSE" => Ecosystem::Suse,
            "openSUSE" => Ecosystem::OpenSuse,
            "Mageia" => Ecosystem::Mageia,
            "openEuler" => Ecosystem::OpenEuler,
            "Photon OS" => Ecosystem::PhotonOs,
            "Azure Linux" => Ecosystem::AzureLinux,
            "Wolfi" => Ecosystem::Wolfi,
            "Chainguard" => Ecosystem::Chainguard,
            "MinimOS" => Ecosystem::MinimOs,
            "Alpaquita" => Ecosystem::Alpaquita,
            "BellSoft Hardened Containers" => Ecosystem::BellSoftHardenedContainers,
            "Hex" => Ecosystem::Hex,
            "Pub" => Ecosystem::Pub,
            "CRAN" => Ecosystem::Cran,
            "Bioconductor" => Ecosystem::Bioconductor,
            "Hackage" => Ecosystem::Hackage,
            "GHC" => Ecosystem::Ghc,
            "SwiftURL" => Ecosystem::SwiftUrl,
            "Bitnami" => Ecosystem::Bitnami,
            "GitHub Actions" => Ecosystem::GitHubActions,
            "Kubernetes" => Ecosystem::Kubernetes,
            "VSCode" => Ecosystem::VsCode,
            "opam" => Ecosystem::Opam,
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
            Ecosystem::Ubuntu => "Ubuntu",
            Ecosystem::RedHat => "Red Hat",
            Ecosystem::AlmaLinux => "AlmaLinux",
            Ecosystem::RockyLinux => "Rocky Linux",
            Ecosystem::Suse => "SUSE",
            Ecosystem::OpenSuse => "openSUSE",
            Ecosystem::Mageia => "Mageia",
            Ecosystem::OpenEuler => "openEuler",
            Ecosystem::PhotonOs => "Photon OS",
            Ecosystem::AzureLinux => "Azure Linux",
            Ecosystem::Wolfi => "Wolfi",
            Ecosystem::Chainguard => "Chainguard",
            Ecosystem::MinimOs => "MinimOS",
            Ecosystem::Alpaquita => "Alpaquita",
            Ecosystem::BellSoftHardenedContainers => "BellSoft Hardened Containers",
            Ecosystem::Hex => "Hex",
            Ecosystem::Pub => "Pub",
            Ecosystem::Cran => "CRAN",
            Ecosystem::Bioconductor => "Bioconductor",
            Ecosystem::Hackage => "Hackage",
            Ecosystem::Ghc => "GHC",
            Ecosystem::SwiftUrl => "SwiftURL",
            Ecosystem::Bitnami => "Bitnami",
            Ecosystem::GitHubActions => "GitHub Actions",
            Ecosystem::Kubernetes => "Kubernetes",
            Ecosystem::VsCode => "VSCode",
            Ecosystem::Opam => "opam",
        }
    }

    /// Every ecosystem trustloop orders.
    pub const ALL: &'static [Ecosystem] = &[
        Ecosystem::CratesIo,
        Ecosystem::Npm,
        Ecosystem::Go,
        Ecosystem::PyPI,
        Ecosystem::Debian,
        Ecosystem::Alpine,
        Ecosystem::Maven,
        Ecosystem::NuGet,
        Ecosystem::RubyGems,
        Ecosystem::Packagist,
        Ecosystem::Ubuntu,
        Ecosystem::RedHat,
        Ecosystem::AlmaLinux,
        Ecosystem::RockyLinux,
        Ecosystem::Suse,
        Ecosystem::OpenSuse,
        Ecosystem::Mageia,
        Ecosystem::OpenEuler,
        Ecosystem::PhotonOs,
        Ecosystem::AzureLinux,
        Ecosystem::Wolfi,
        Ecosystem::Chainguard,
        Ecosystem::MinimOs,
        Ecosystem::Alpaquita,
        Ecosystem::BellSoftHardenedContainers,
        Ecosystem::Hex,
        Ecosystem::Pub,
        Ecosystem::Cran,
        Ecosystem::Bioconductor,
        Ecosystem::Hackage,
        Ecosystem::Ghc,
        Ecosystem::SwiftUrl,
        Ecosystem::Bitnami,
        Ecosystem::GitHubActions,
        Ecosystem::Kubernetes,
        Ecosystem::VsCode,
        Ecosystem::Opam,
    ];

    /// The family of version ordering this ecosystem uses.
    fn order(self) -> Order {
        match self {
            Ecosystem::CratesIo
            | Ecosystem::Npm
            | Ecosystem::Go
            | Ecosystem::Hex
            | Ecosystem::SwiftUrl
            | Ecosystem::Bitnami
            | Ecosystem::GitHubActions
            | Ecosystem::Kubernetes
            | Ecosystem::VsCode => Order::Semver,
            Ecosystem::PyPI => Order::Pep440,
            Ecosystem::Debian | Ecosystem::Ubuntu => Order::Dpkg,
            Ecosystem::Alpine
            | Ecosystem::Wolfi
            | Ecosystem::Chainguard
            | Ecosystem::MinimOs
            | Ecosystem::Alpaquita
            | Ecosystem::BellSoftHardenedContainers => Order::Apk,
            Ecosystem::RedHat
            | Ecosystem::AlmaLinux
            | Ecosystem::RockyLinux
            | Ecosystem::Suse
            | Ecosystem::OpenSuse
            | Ecosystem::Mageia
            | Ecosystem::OpenEuler
            | Ecosystem::PhotonOs
            | Ecosystem::AzureLinux => Order::Rpm,
            Ecosystem::Maven => Order::Maven,
            Ecosystem::NuGet => Order::NuGet,
            Ecosystem::RubyGems => Order::RubyGems,
            Ecosystem::Packagist => Order::Packagist,
            Ecosystem::Pub => Order::Pub,
            Ecosystem::Cran | Ecosystem::Bioconductor => Order::RPackage,
            Ecosystem::Hackage | Ecosystem::Ghc => Order::HaskellVersion,
            Ecosystem::Opam => Order::Opam,
        }
    }

    /// Name of the comparator, as findings report it.
    pub fn comparator(self) -> &'static str {
        match self.order() {
            Order::Semver => "semver",
            Order::Pep440 => "pep440",
            Order::Dpkg => "dpkg",
            Order::Apk => "apk",
            Order::Rpm => "rpm",
            Order::Maven => "maven",
            Order::NuGet => "nuget",
            Order::RubyGems => "rubygems",
            Order::Packagist => "php-version-compare",
            Order::Pub => "pub-semver",
            Order::RPackage => "r-package-version",
            Order::HaskellVersion => "haskell-data-version",
            Order::Opam => "opam",
        }
    }

    /// The name `name` is compared by: two names are [`Ecosystem::same_package`] exactly when their
    /// keys are equal (PyPI's normalised name, crates.io's lower-cased with `_` as `-`, else as
    /// written).
    pub fn package_key(self, name: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Ecosystem::PyPI => std::borrow::Cow::Owned(pypi::normalize_name(name)),
            Ecosystem::CratesIo => std::borrow::Cow::Owned(name.replace('_', "-").to_ascii_lowercase()),
            _ => std::borrow::Cow::Borrowed(name),
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
        match self.order() {
            Order::Semver => semver::compare(a, b),
            Order::Pep440 => pypi::compare(a, b),
            Order::Dpkg => debian::compare(a, b),
            Order::Apk => alpine::compare(a, b),
            Order::Rpm => rpm::compare(a, b),
            Order::Maven => maven::compare(a, b),
            Order::NuGet => nuget::compare(a, b),
            Order::RubyGems => rubygems::compare(a, b),
            Order::Packagist => packagist::compare(a, b),
            Order::Pub => pub_semver::compare(a, b),
            Order::RPackage => cran::compare(a, b),
            Order::HaskellVersion => hackage::compare(a, b),
            Order::Opam => opam::compare(a, b),
        }
    }
}

/// The version orderings, one per comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Semver,
    Pep440,
    Dpkg,
    Apk,
    Rpm,
    Maven,
    NuGet,
    RubyGems,
    Packagist,
    Pub,
    RPackage,
    HaskellVersion,
    Opam,
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
pub(crate) mod oracle;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &e in Ecosystem::ALL {
            assert_eq!(Ecosystem::from_osv(e.osv_name()), Some(e), "{e:?}");
            assert_eq!(Ecosystem::from_osv(&format!("{}:some release", e.osv_name())), Some(e), "{e:?}");
            assert!(!e.comparator().is_empty());
        }
    }

    /// Every ecosystem OSV's schema lists is either ordered here or listed, with a reason, as not.
    #[test]
    fn osv_schema_ecosystems_are_all_accounted_for() {
        let listed: Vec<&str> = include_str!("osv-ecosystems.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(listed.len() > 40, "{} ecosystems listed", listed.len());
        let mut missing = Vec::new();
        for name in &listed {
            let supported = Ecosystem::from_osv(name).is_some();
            let unsupported = UNSUPPORTED.iter().any(|(n, _)| n == name);
            if supported == unsupported {
                missing.push(format!("{name}: supported {supported}, in UNSUPPORTED {unsupported}"));
            }
        }
        for (name, reason) in UNSUPPORTED {
            assert!(listed.contains(name), "UNSUPPORTED names {name}, which the schema does not list");
            assert!(!reason.is_empty());
        }
        for e in Ecosystem::ALL {
            assert!(listed.contains(&e.osv_name()), "{} is not in the schema's list", e.osv_name());
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
