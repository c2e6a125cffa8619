//! Package URLs (purl) and their OSV identity.
//!
//! Parsing is the `packageurl` crate's (the purl specification's Rust implementation); this module
//! maps a purl to the OSV ecosystem and package name advisories use — `pkg:maven/org.yaml/snakeyaml`
//! is `Maven` `org.yaml:snakeyaml`, `pkg:npm/%40angular/core` is `npm` `@angular/core`,
//! `pkg:golang/github.com/gin-gonic/gin` is `Go` `github.com/gin-gonic/gin`,
//! `pkg:rpm/almalinux/openssl@3.0.7-27.el9?epoch=1&distro=almalinux-9.4` is `AlmaLinux` `openssl` at
//! `1:3.0.7-27.el9` on release 9 — and back.

use std::collections::BTreeMap;
use std::str::FromStr;

use packageurl::PackageUrl;

use crate::versions::Ecosystem;
use crate::versions::distro::{self, DistroRelease};

/// A parsed package URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Purl {
    /// The purl type (`cargo`, `npm`, `pypi`, `maven`, `golang`, `deb`, `apk`, `gem`, `composer`,
    /// `nuget`, `oci`, `generic`, ...), lower case.
    pub ty: String,
    /// The namespace (npm scope with its `@`, Maven group id, Go module path prefix, distro), decoded.
    pub namespace: Option<String>,
    /// The name, decoded.
    pub name: String,
    /// The version, decoded.
    pub version: Option<String>,
    /// The qualifiers (`distro`, `arch`, `epoch`, `type`, ...), decoded, keys in lower case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub qualifiers: BTreeMap<String, String>,
}

/// A purl that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid package URL `{purl}`: {reason}")]
pub struct PurlError {
    /// The text.
    pub purl: String,
    /// Why it is not a purl.
    pub reason: String,
}

impl FromStr for Purl {
    type Err = PurlError;

    fn from_str(s: &str) -> Result<Purl, PurlError> {
        let p = PackageUrl::from_str(s.trim()).map_err(|e| PurlError { purl: s.to_string(), reason: e.to_string() })?;
        Ok(Purl {
            ty: p.ty().to_ascii_lowercase(),
            namespace: p.namespace().filter(|n| !n.is_empty()).map(str::to_string),
            name: p.name().to_string(),
            version: p.version().filter(|v| !v.is_empty()).map(str::to_string),
            qualifiers: p
                .qualifiers()
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
        })
    }
}

impl Purl {
    /// The OSV ecosystem of this purl's type, if OSV has one (`cargo` → `crates.io`).
    pub fn osv_ecosystem(&self) -> Option<&'static str> {
        osv_ecosystem(&self.ty, self.namespace.as_deref())
    }

    /// The package name as OSV advisories write it for this purl's ecosystem.
    pub fn osv_name(&self) -> String {
        match (self.ty.as_str(), &self.namespace) {
            ("maven", Some(ns)) => format!("{ns}:{}", self.name),
            ("npm" | "golang" | "composer" | "swift", Some(ns)) => format!("{ns}/{}", self.name),
            _ => self.name.clone(),
        }
    }

    /// A qualifier's value (`arch`, `distro`, `epoch`, ...), if the purl has it.
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers.get(key).map(String::as_str)
    }

    /// The version as OSV advisories compare it: for `rpm` and `deb` purls that carry the epoch as a
    /// qualifier (`epoch=1`), `EPOCH:VERSION`; otherwise the version as written.
    pub fn osv_version(&self) -> Option<String> {
        let version = self.version.as_deref()?;
        let epoch = self.qualifier("epoch").map(str::trim).filter(|e| !e.is_empty());
        match epoch {
            Some(e) if matches!(self.ty.as_str(), "rpm" | "deb") && !has_epoch(version) => {
                Some(format!("{e}:{version}"))
            }
            _ => Some(version.to_string()),
        }
    }

    /// The distribution and release this package comes from, from the `distro` qualifier
    /// (`debian-11`, `rhel-9.2`, `bookworm`; a bare release like `11` takes the distribution from the
    /// purl's namespace), normalised as OSV advisories scope releases; `None` without a usable one.
    pub fn distro(&self) -> Option<(Ecosystem, Option<DistroRelease>)> {
        let q = self.qualifier("distro")?;
        if let Some(found) = distro::from_distro_qualifier(q) {
            return Some(found);
        }
        let eco = self.osv_ecosystem().and_then(Ecosystem::from_osv)?;
        distro::release_of(eco, q).map(|release| (eco, Some(release)))
    }

    /// Whether `self`, as a product or component reference (a VEX statement's, say), designates
    /// `other`: same type, namespace and name (compared as the type's rules say), and the same version
    /// unless `self` names none (a versionless purl designates every version).
    pub fn designates(&self, other: &Purl) -> bool {
        let fold = |s: &str| if case_insensitive(&self.ty) { s.to_ascii_lowercase() } else { s.to_string() };
        self.ty == other.ty
            && self.namespace.as_deref().map(fold) == other.namespace.as_deref().map(fold)
            && fold(&self.name) == fold(&other.name)
            && self.version.as_ref().is_none_or(|v| other.version.as_ref() == Some(v))
    }
}

/// The purl without its qualifiers (type, namespace, name, version), as trustloop has always written it.
impl std::fmt::Display for Purl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut p = match PackageUrl::new(self.ty.as_str(), self.name.as_str()) {
            Ok(p) => p,
            Err(_) => return write!(f, "pkg:{}/{}", self.ty, self.name),
        };
        if let Some(ns) = &self.namespace {
            let _ = p.with_namespace(ns.as_str());
        }
        if let Some(v) = &self.version {
            let _ = p.with_version(v.as_str());
        }
        write!(f, "{p}")
    }
}

/// Whether an rpm or Debian version already starts with an epoch (`1:2.3-4`).
fn has_epoch(version: &str) -> bool {
    version.split_once(':').is_some_and(|(e, _)| !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()))
}

/// purl types whose names compare case-insensitively (the purl specification's type rules).
fn case_insensitive(ty: &str) -> bool {
    matches!(ty, "pypi" | "npm" | "github" | "bitbucket" | "composer" | "nuget" | "golang" | "hex")
}

/// The OSV ecosystem of purl type `ty` (with the namespace, which names the distribution for `deb`,
/// `apk` and `rpm`), if OSV has one. OSV has none for Fedora, Amazon Linux or Oracle Linux, so their
/// `rpm` purls have none.
pub fn osv_ecosystem(ty: &str, namespace: Option<&str>) -> Option<&'static str> {
    Some(match ty.to_ascii_lowercase().as_str() {
        "cargo" => "crates.io",
        "npm" => "npm",
        "pypi" => "PyPI",
        "golang" => "Go",
        "maven" => "Maven",
        "gem" => "RubyGems",
        "composer" => "Packagist",
        "nuget" => "NuGet",
        "hex" => "Hex",
        "pub" => "Pub",
        "cran" => "CRAN",
        "hackage" => "Hackage",
        "swift" => "SwiftURL",
        "bitnami" => "Bitnami",
        "deb" => match namespace.map(str::to_ascii_lowercase).as_deref() {
            Some("ubuntu") => "Ubuntu",
            _ => "Debian",
        },
        // Older syft releases wrote Alpine packages as `pkg:alpine/NAME@VERSION`.
        "alpine" => "Alpine",
        "apk" => match namespace.map(str::to_ascii_lowercase).as_deref() {
            Some("wolfi") => "Wolfi",
            Some("chainguard") => "Chainguard",
            Some("minimos") => "MinimOS",
            Some("alpaquita") => "Alpaquita",
            _ => "Alpine",
        },
        "rpm" => match namespace.map(str::to_ascii_lowercase).as_deref() {
            Some("redhat" | "rhel" | "centos") => "Red Hat",
            Some("almalinux") => "AlmaLinux",
            Some("rocky" | "rockylinux" | "rocky-linux") => "Rocky Linux",
            Some("suse" | "sles") => "SUSE",
            Some("opensuse") => "openSUSE",
            Some("mageia") => "Mageia",
            Some("openeuler") => "openEuler",
            Some("photon") => "Photon OS",
            Some("azurelinux" | "mariner") => "Azure Linux",
            _ => return None,
        },
        _ => return None,
    })
}

/// The purl of an OSV `ecosystem` package `name` at `version`, if the ecosystem has a purl type.
pub fn for_osv(ecosystem: &str, name: &str, version: Option<&str>) -> Option<Purl> {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    let (ty, namespace, name) = match base {
        "crates.io" => ("cargo", None, name),
        "npm" => match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, n)) => ("npm", Some(format!("@{scope}")), n),
            None => ("npm", None, name),
        },
        "PyPI" => ("pypi", None, name),
        "Go" => match name.rsplit_once('/') {
            Some((ns, n)) => ("golang", Some(ns.to_string()), n),
            None => ("golang", None, name),
        },
        "Maven" => match name.split_once(':') {
            Some((g, a)) => ("maven", Some(g.to_string()), a),
            None => ("maven", None, name),
        },
        "RubyGems" => ("gem", None, name),
        "Packagist" => match name.split_once('/') {
            Some((v, n)) => ("composer", Some(v.to_string()), n),
            None => ("composer", None, name),
        },
        "NuGet" => ("nuget", None, name),
        "Debian" => ("deb", Some("debian".to_string()), name),
        "Ubuntu" => ("deb", Some("ubuntu".to_string()), name),
        "Alpine" => ("apk", Some("alpine".to_string()), name),
        "Hex" => ("hex", None, name),
        "Pub" => ("pub", None, name),
        "CRAN" => ("cran", None, name),
        "Hackage" => ("hackage", None, name),
        "Bitnami" => ("bitnami", None, name),
        "SwiftURL" => {
            let path = name.split_once("://").map_or(name, |(_, rest)| rest).trim_end_matches(".git");
            match path.rsplit_once('/') {
                Some((ns, n)) => ("swift", Some(ns.to_string()), n),
                None => ("swift", None, path),
            }
        }
        _ => match distro_purl(base) {
            Some((ty, ns)) => (ty, Some(ns.to_string()), name),
            None => return None,
        },
    };
    Some(Purl {
        ty: ty.to_string(),
        namespace,
        name: name.to_string(),
        version: version.map(str::to_string),
        qualifiers: BTreeMap::new(),
    })
}

/// The purl type and namespace of a distribution's OSV ecosystem.
fn distro_purl(ecosystem: &str) -> Option<(&'static str, &'static str)> {
    Some(match ecosystem {
        "Red Hat" => ("rpm", "redhat"),
        "AlmaLinux" => ("rpm", "almalinux"),
        "Rocky Linux" => ("rpm", "rocky"),
        "SUSE" => ("rpm", "suse"),
        "openSUSE" => ("rpm", "opensuse"),
        "Mageia" => ("rpm", "mageia"),
        "openEuler" => ("rpm", "openeuler"),
        "Photon OS" => ("rpm", "photon"),
        "Azure Linux" => ("rpm", "azurelinux"),
        "Wolfi" => ("apk", "wolfi"),
        "Chainguard" => ("apk", "chainguard"),
        "MinimOS" => ("apk", "minimos"),
        "Alpaquita" => ("apk", "alpaquita"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purl(s: &str) -> Purl {
        s.parse().expect("purl")
    }

    #[test]
    fn osv_identity_per_type() {
        let cases = [
            ("pkg:cargo/smallvec@0.6.9", "crates.io", "smallvec", Some("0.6.9")),
            ("pkg:npm/%40angular/core@12.3.1", "npm", "@angular/core", Some("12.3.1")),
            ("pkg:npm/lodash@4.17.20", "npm", "lodash", Some("4.17.20")),
            ("pkg:maven/org.yaml/snakeyaml@1.26?type=jar", "Maven", "org.yaml:snakeyaml", Some("1.26")),
            ("pkg:golang/github.com/gin-gonic/gin@v1.9.0", "Go", "github.com/gin-gonic/gin", Some("v1.9.0")),
            ("pkg:pypi/django@3.2.1", "PyPI", "django", Some("3.2.1")),
            ("pkg:composer/laravel/framework@v7.12.0", "Packagist", "laravel/framework", Some("v7.12.0")),
            ("pkg:deb/debian/libde265@1.0.11-1?arch=amd64", "Debian", "libde265", Some("1.0.11-1")),
            ("pkg:apk/alpine/openssl@3.1.4-r0", "Alpine", "openssl", Some("3.1.4-r0")),
            ("pkg:gem/rails@7.0.1", "RubyGems", "rails", Some("7.0.1")),
            ("pkg:nuget/Newtonsoft.Json@12.0.1", "NuGet", "Newtonsoft.Json", Some("12.0.1")),
        ];
        for (s, eco, name, version) in cases {
            let p = purl(s);
            assert_eq!(p.osv_ecosystem(), Some(eco), "{s}");
            assert_eq!(p.osv_name(), name, "{s}");
            assert_eq!(p.version.as_deref(), version, "{s}");
            // And back.
            let back = for_osv(eco, name, version).expect("purl for osv");
            assert!(back.designates(&p) && p.designates(&back), "{s} vs {back}");
        }
        assert_eq!(purl("pkg:oci/nginx@sha256%3Aabc").version.as_deref(), Some("sha256:abc"));
        assert_eq!(purl("pkg:oci/nginx@sha256%3Aabc").osv_ecosystem(), None);
    }

    #[test]
    fn older_syft_alpine_purls_are_alpine() {
        let p = purl("pkg:alpine/musl@1.2.3-r0?arch=x86_64&upstream=musl&distro=alpine-3.18.4");
        assert_eq!((p.osv_ecosystem(), p.osv_name().as_str()), (Some("Alpine"), "musl"));
    }

    #[test]
    fn designation_rules() {
        let any = purl("pkg:npm/lodash");
        let one = purl("pkg:npm/lodash@4.17.20");
        let other = purl("pkg:npm/lodash@4.17.21");
        assert!(any.designates(&one) && any.designates(&other));
        assert!(one.designates(&one) && !one.designates(&other) && !one.designates(&any));
        assert!(purl("pkg:pypi/Django@3.2").designates(&purl("pkg:pypi/django@3.2")));
        assert!(!purl("pkg:maven/g/a@1").designates(&purl("pkg:maven/G/a@1")));
        assert!(!purl("pkg:npm/a@1").designates(&purl("pkg:cargo/a@1")));
    }

    #[test]
    fn rpm_purls_per_distribution() {
        let cases = [
            ("pkg:rpm/redhat/openssl@3.0.7-27.el9?arch=x86_64&epoch=1&distro=rhel-9.2", Some("Red Hat")),
            ("pkg:rpm/centos/bash@4.2.46-34.el7", Some("Red Hat")),
            ("pkg:rpm/almalinux/openssl@3.0.7-27.el9", Some("AlmaLinux")),
            ("pkg:rpm/rocky/openssl@3.0.7-27.el9", Some("Rocky Linux")),
            ("pkg:rpm/suse/openssl@3.0.8-150500.5.8.1", Some("SUSE")),
            ("pkg:rpm/opensuse/openssl@3.0.8-150500.5.8.1", Some("openSUSE")),
            ("pkg:rpm/mageia/openssl@3.0.8-1.mga9", Some("Mageia")),
            ("pkg:rpm/openeuler/openssl@1.1.1m-22.oe2203sp3", Some("openEuler")),
            ("pkg:rpm/photon/openssl@3.0.9-2.ph5", Some("Photon OS")),
            ("pkg:rpm/fedora/curl@7.50.3-1.fc25", None),
            ("pkg:rpm/amzn/curl@8.3.0-1.amzn2023", None),
            ("pkg:rpm/ol/curl@7.76.1-26.el9", None),
        ];
        for (s, eco) in cases {
            let p = purl(s);
            assert_eq!(p.osv_ecosystem(), eco, "{s}");
            if let Some(eco) = eco {
                let back = for_osv(eco, &p.osv_name(), p.version.as_deref()).expect("purl for osv");
                assert_eq!(back.osv_ecosystem(), Some(eco), "{s}");
            }
        }
        let p = purl("pkg:rpm/redhat/openssl@3.0.7-27.el9?arch=x86_64&epoch=1&distro=rhel-9.2");
        assert_eq!(p.osv_version().as_deref(), Some("1:3.0.7-27.el9"));
        assert_eq!(p.qualifier("arch"), Some("x86_64"));
        assert_eq!(p.distro(), crate::versions::distro::split_osv("Red Hat:enterprise_linux:9::appstream"));
        assert_eq!(purl("pkg:rpm/redhat/a@1:2-3?epoch=1").osv_version().as_deref(), Some("1:2-3"));
        assert_eq!(purl("pkg:npm/a@1?epoch=1").osv_version().as_deref(), Some("1"));
        assert_eq!(purl("pkg:npm/a").osv_version(), None);
    }

    #[test]
    fn distro_qualifiers() {
        use crate::versions::distro::split_osv;
        let cases = [
            ("pkg:deb/debian/curl@7.74.0-1.3+deb11u7?distro=debian-11", Some("Debian:11")),
            ("pkg:deb/debian/curl@7.88.1-10?distro=bookworm", Some("Debian:12")),
            ("pkg:deb/debian/curl@7.74.0-1.3?distro=11", Some("Debian:11")),
            ("pkg:deb/ubuntu/curl@7.81.0-1ubuntu1.15?distro=ubuntu-22.04", Some("Ubuntu:22.04:LTS")),
            ("pkg:deb/ubuntu/curl@7.81.0-1ubuntu1.15?distro=jammy", Some("Ubuntu:22.04:LTS")),
            ("pkg:apk/alpine/curl@8.5.0-r0?distro=alpine-3.18.4", Some("Alpine:v3.18")),
            ("pkg:rpm/almalinux/curl@7.76.1-26.el9?distro=almalinux-9.2", Some("AlmaLinux:9")),
            ("pkg:deb/debian/curl@7.74.0-1.3", None),
        ];
        for (s, osv) in cases {
            assert_eq!(purl(s).distro(), osv.and_then(split_osv), "{s}");
        }
    }

    #[test]
    fn qualifiers_do_not_change_old_serialized_forms() {
        let plain = purl("pkg:npm/lodash@4.17.20");
        let json = serde_json::to_string(&plain).expect("serialize");
        assert!(!json.contains("qualifiers"), "{json}");
        let back: Purl = serde_json::from_str(r#"{"ty":"npm","namespace":null,"name":"lodash","version":"4.17.20"}"#)
            .expect("old form deserializes");
        assert_eq!(back, plain);
        let q = purl("pkg:deb/debian/curl@1?arch=amd64&distro=debian-11");
        let round: Purl = serde_json::from_str(&serde_json::to_string(&q).expect("serialize")).expect("deserialize");
        assert_eq!(round, q);
        assert!(q.designates(&purl("pkg:deb/debian/curl@1")));
    }

    #[test]
    fn swift_urls() {
        let p = for_osv("SwiftURL", "https://github.com/vapor/vapor.git", Some("4.0.0")).expect("swift purl");
        assert_eq!(p.to_string(), "pkg:swift/github.com/vapor/vapor@4.0.0");
        assert_eq!(p.osv_name(), "github.com/vapor/vapor");
        assert_eq!(p.osv_ecosystem(), Some("SwiftURL"));
    }

    #[test]
    fn bad_purls_are_errors() {
        for s in ["", "lodash@1", "pkg:", "pkg:npm", "pkg:/x@1"] {
            assert!(s.parse::<Purl>().is_err(), "{s:?}");
        }
    }
}
