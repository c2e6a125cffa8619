//! Package URLs (purl) and their OSV identity.
//!
//! Parsing is the `packageurl` crate's (the purl specification's Rust implementation); this module
//! maps a purl to the OSV ecosystem and package name advisories use — `pkg:maven/org.yaml/snakeyaml`
//! is `Maven` `org.yaml:snakeyaml`, `pkg:npm/%40angular/core` is `npm` `@angular/core`,
//! `pkg:golang/github.com/gin-gonic/gin` is `Go` `github.com/gin-gonic/gin` — and back.

use std::str::FromStr;

use packageurl::PackageUrl;

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
            ("npm" | "golang" | "composer", Some(ns)) => format!("{ns}/{}", self.name),
            _ => self.name.clone(),
        }
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

/// purl types whose names compare case-insensitively (the purl specification's type rules).
fn case_insensitive(ty: &str) -> bool {
    matches!(ty, "pypi" | "npm" | "github" | "bitbucket" | "composer" | "nuget" | "golang" | "hex")
}

/// The OSV ecosystem of purl type `ty` (with the namespace, which names the distribution for `deb`
/// and `apk`), if OSV has one.
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
        "deb" => match namespace.map(str::to_ascii_lowercase).as_deref() {
            Some("ubuntu") => "Ubuntu",
            _ => "Debian",
        },
        "apk" => match namespace.map(str::to_ascii_lowercase).as_deref() {
            Some("wolfi") => "Wolfi",
            Some("chainguard") => "Chainguard",
            _ => "Alpine",
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
        _ => return None,
    };
    Some(Purl { ty: ty.to_string(), namespace, name: name.to_string(), version: version.map(str::to_string) })
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
    fn bad_purls_are_errors() {
        for s in ["", "lodash@1", "pkg:", "pkg:npm", "pkg:/x@1"] {
            assert!(s.parse::<Purl>().is_err(), "{s:?}");
        }
    }
}
