//! Distribution releases: which release of a distribution an OSV advisory is scoped to (`Debian:11`,
//! `Ubuntu:Pro:18.04:LTS`, `Red Hat:enterprise_linux:9::appstream`), which one a component comes
//! from (a purl's `distro` qualifier, an SBOM's os-release `ID`/`VERSION_ID`), and whether the two
//! meet. Both sides are normalised to the granularity the distribution's OSV advisories use: Debian
//! major (major.minor up to 3.1), Ubuntu `YY.MM`, Alpine major.minor, Red Hat / AlmaLinux / Rocky
//! Linux / Mageia / Azure Linux major, Photon OS major.minor, SUSE and openSUSE `15.5` (major, `.`
//! service pack) with a `micro-` prefix for their Micro products, openSUSE Tumbleweed `tumbleweed`,
//! openEuler `22.03-LTS-SP3`.

use super::Ecosystem;

/// A distribution release, normalised for comparison (`11`, `22.04`, `3.20`, `9`, `15.5`). Held
/// inline when short (every release OSV names is), so matching a component's release against an
/// advisory entry's reads no other memory: the impact operator compares them by the thousand.
#[derive(Clone)]
pub struct DistroRelease(ReleaseText);

/// The text of a [`DistroRelease`]: inline up to [`INLINE`] bytes, else on the heap.
#[derive(Clone)]
enum ReleaseText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

/// The longest release text kept inline.
const INLINE: usize = 22;

impl DistroRelease {
    /// The release whose normalised text is `text`.
    fn of(text: impl AsRef<str>) -> DistroRelease {
        let text = text.as_ref();
        let mut bytes = [0u8; INLINE];
        match (bytes.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(inline), Ok(len)) => {
                inline.copy_from_slice(text.as_bytes());
                DistroRelease(ReleaseText::Inline { len, bytes })
            }
            _ => DistroRelease(ReleaseText::Heap(text.into())),
        }
    }

    /// The normalised release text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Inline bytes are always a whole `&str` copied in `of`.
            ReleaseText::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            ReleaseText::Heap(s) => s,
        }
    }

    /// Whether `self` is `other` made more precise after a `-` (`22.03-LTS-SP3` of `22.03`).
    fn refines(&self, other: &DistroRelease) -> bool {
        self.as_str().strip_prefix(other.as_str()).is_some_and(|rest| rest.starts_with('-'))
    }
}

impl PartialEq for DistroRelease {
    fn eq(&self, other: &DistroRelease) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for DistroRelease {}

impl std::hash::Hash for DistroRelease {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for DistroRelease {
    fn partial_cmp(&self, other: &DistroRelease) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DistroRelease {
    fn cmp(&self, other: &DistroRelease) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::fmt::Debug for DistroRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DistroRelease").field(&self.as_str()).finish()
    }
}

impl std::fmt::Display for DistroRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an advisory scoped to one release applies to a component from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseMatch {
    /// The same release, or an advisory for every release.
    Same,
    /// Different releases: the advisory does not apply.
    Different,
    /// The component's release is not known (or only in part): the advisory is matched, and the
    /// finding must say the release was not checked.
    Unknown,
}

/// Whether an advisory for release `advisory` (`None`: every release) applies to a component from
/// release `component` (`None`: not known).
pub fn release_applies(advisory: Option<&DistroRelease>, component: Option<&DistroRelease>) -> ReleaseMatch {
    match (advisory, component) {
        (None, _) => ReleaseMatch::Same,
        (Some(_), None) => ReleaseMatch::Unknown,
        (Some(a), Some(c)) if a == c => ReleaseMatch::Same,
        (Some(a), Some(c)) if a.refines(c) || c.refines(a) => ReleaseMatch::Unknown,
        _ => ReleaseMatch::Different,
    }
}

/// The ecosystem of an OSV `ecosystem` string and the release its suffix names, if any
/// (`AlmaLinux:9` → AlmaLinux, `9`; `Ubuntu:Pro:18.04:LTS` → Ubuntu, `18.04`; `npm` → npm, none).
/// `None` if trustloop does not order the ecosystem.
pub fn split_osv(ecosystem: &str) -> Option<(Ecosystem, Option<DistroRelease>)> {
    let eco = Ecosystem::from_osv(ecosystem)?;
    let suffix = ecosystem.split_once(':').map_or("", |(_, s)| s).trim();
    if suffix.is_empty() || !is_distribution(eco) {
        return Some((eco, None));
    }
    let release = match eco {
        // `Pro:18.04:LTS`, `Pro:FIPS-updates:22.04:LTS`, `22.04:LTS`: the `YY.MM` piece.
        Ecosystem::Ubuntu => suffix.split(':').find(|p| p.starts_with(|c: char| c.is_ascii_digit())),
        // A CPE without its prefix: `enterprise_linux:9::appstream`, `rhel_aus:8.4::appstream`.
        Ecosystem::RedHat => suffix.split(':').find(|p| p.starts_with(|c: char| c.is_ascii_digit())),
        _ => Some(suffix),
    };
    Some((eco, release.and_then(|r| normalize(eco, r))))
}

/// The release an OSV `ecosystem` string is scoped to, if it names one.
pub fn osv_release(ecosystem: &str) -> Option<DistroRelease> {
    split_osv(ecosystem).and_then(|(_, release)| release)
}

/// The distribution and release of an operating system as os-release names it (`ID`, `VERSION_ID`:
/// `debian`/`12`, `rhel`/`9.2`, `ubuntu`/`22.04`, `alpine`/`3.18.4`), if OSV has advisories for it.
/// The release is `None` when `version_id` is empty (or the distribution is rolling, like Wolfi).
pub fn from_os_release(id: &str, version_id: &str) -> Option<(Ecosystem, Option<DistroRelease>)> {
    let id = id.trim().to_ascii_lowercase();
    let eco = distribution_of(&id)?;
    let version = version_id.trim();
    let release = match (eco, id.as_str()) {
        (Ecosystem::OpenSuse, "opensuse-tumbleweed") => Some(DistroRelease::of("tumbleweed")),
        (Ecosystem::Suse | Ecosystem::OpenSuse, _) if id.contains("micro") && !version.is_empty() => {
            normalize(eco, version).map(|r| DistroRelease::of(format!("micro-{r}")))
        }
        (Ecosystem::Wolfi | Ecosystem::Chainguard, _) => None,
        _ if version.is_empty() => None,
        _ => normalize(eco, version),
    };
    Some((eco, release))
}

/// The distribution and release a purl's `distro` qualifier names: `debian-11`, `debian-11.7`,
/// `rhel-9.2`, `ubuntu-22.04`, `alpine-3.18.4`, `almalinux-9.2`, `opensuse-leap-15.5`, or a Debian
/// or Ubuntu code name (`bookworm`, `debian-bookworm`, `jammy`). `None` if it names none trustloop
/// knows (a bare number needs the purl's namespace: see [`release_of`]).
pub fn from_distro_qualifier(distro: &str) -> Option<(Ecosystem, Option<DistroRelease>)> {
    let distro = distro.trim().to_ascii_lowercase();
    if let Some(found) = code_name(&distro) {
        return Some(found);
    }
    // `<id>-<version>`: the id ends at the first `-` followed by a digit.
    let split = distro.as_bytes().windows(2).position(|w| w[0] == b'-' && w[1].is_ascii_digit());
    if let Some(k) = split {
        return from_os_release(&distro[..k], &distro[k + 1..]);
    }
    if let Some((id, (eco, release))) = distro.split_once('-').and_then(|(id, name)| Some((id, code_name(name)?))) {
        return (distribution_of(id) == Some(eco)).then_some((eco, release));
    }
    from_os_release(&distro, "")
}

/// `version` (a release number, or a Debian or Ubuntu code name) as a release of distribution `eco`,
/// normalised; `None` for anything else.
pub fn release_of(eco: Ecosystem, version: &str) -> Option<DistroRelease> {
    let version = version.trim();
    if let Some((e, release)) = code_name(&version.to_ascii_lowercase()) {
        return if e == eco { release } else { None };
    }
    let numeric = version.trim_start_matches(['v', 'V']).starts_with(|c: char| c.is_ascii_digit());
    if !numeric || !is_distribution(eco) {
        return None;
    }
    normalize(eco, version)
}

/// Whether `eco` is a distribution whose OSV advisories may be scoped to a release.
fn is_distribution(eco: Ecosystem) -> bool {
    matches!(
        eco,
        Ecosystem::Debian
            | Ecosystem::Ubuntu
            | Ecosystem::Alpine
            | Ecosystem::RedHat
            | Ecosystem::AlmaLinux
            | Ecosystem::RockyLinux
            | Ecosystem::Suse
            | Ecosystem::OpenSuse
            | Ecosystem::Mageia
            | Ecosystem::OpenEuler
            | Ecosystem::PhotonOs
            | Ecosystem::AzureLinux
            | Ecosystem::Alpaquita
            | Ecosystem::BellSoftHardenedContainers
            | Ecosystem::MinimOs
    )
}

/// The OSV ecosystem of an os-release `ID` (lower case) or purl distro id.
fn distribution_of(id: &str) -> Option<Ecosystem> {
    Some(match id {
        "debian" => Ecosystem::Debian,
        "ubuntu" => Ecosystem::Ubuntu,
        "alpine" => Ecosystem::Alpine,
        // CentOS rebuilds RHEL: Red Hat's advisories are the ones that describe it.
        "rhel" | "redhat" | "centos" => Ecosystem::RedHat,
        "almalinux" | "alma" => Ecosystem::AlmaLinux,
        "rocky" | "rockylinux" => Ecosystem::RockyLinux,
        "sles" | "sled" | "sles_sap" | "suse" | "sle-micro" | "sl-micro" => Ecosystem::Suse,
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "opensuse-leap-micro" => Ecosystem::OpenSuse,
        "mageia" => Ecosystem::Mageia,
        "openeuler" => Ecosystem::OpenEuler,
        "photon" => Ecosystem::PhotonOs,
        "azurelinux" | "mariner" => Ecosystem::AzureLinux,
        "wolfi" => Ecosystem::Wolfi,
        "chainguard" => Ecosystem::Chainguard,
        "alpaquita" => Ecosystem::Alpaquita,
        "minimos" => Ecosystem::MinimOs,
        _ => return None,
    })
}

/// The digits `p` starts with.
fn leading_digits(p: &str) -> &str {
    &p[..p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len())]
}

/// The first `n` numeric components of `v` without leading zeros, joined with `.` and padded with
/// `0` up to `pad` components (`3.18.4` → `3.18`); `None` if `v` does not start with a digit.
fn dotted(v: &str, n: usize, pad: usize) -> Option<DistroRelease> {
    let mut parts = Vec::new();
    for p in v.split('.').take(n) {
        let digits = leading_digits(p);
        if digits.is_empty() {
            break;
        }
        let trimmed = digits.trim_start_matches('0');
        parts.push(if trimmed.is_empty() { "0" } else { trimmed });
        if digits.len() != p.len() {
            break;
        }
    }
    if parts.is_empty() {
        return None;
    }
    while parts.len() < pad {
        parts.push("0");
    }
    Some(DistroRelease::of(parts.join(".")))
}

/// `v` as a release of distribution `eco`, at the granularity of its OSV advisories.
fn normalize(eco: Ecosystem, v: &str) -> Option<DistroRelease> {
    let v = v.trim();
    let lower = v.to_ascii_lowercase();
    let numeric = v.starts_with(|c: char| c.is_ascii_digit());
    match eco {
        Ecosystem::Debian if numeric => {
            let major = dotted(v, 1, 1)?;
            let old = major.as_str().parse::<u32>().is_ok_and(|m| m <= 3);
            if old { dotted(v, 2, 2) } else { Some(major) }
        }
        Ecosystem::Ubuntu if numeric => {
            // `YY.MM`: the month keeps its leading zero.
            let mut parts = v.split('.').map(leading_digits);
            let (yy, mm) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            (!yy.is_empty() && !mm.is_empty()).then(|| DistroRelease::of(format!("{yy}.{mm}")))
        }
        Ecosystem::Alpine => dotted(lower.strip_prefix('v').unwrap_or(&lower), 2, 2)
            .or_else(|| (!lower.is_empty()).then(|| DistroRelease::of(lower.clone()))),
        Ecosystem::RedHat
        | Ecosystem::AlmaLinux
        | Ecosystem::RockyLinux
        | Ecosystem::Mageia
        | Ecosystem::AzureLinux
            if numeric =>
        {
            dotted(v, 1, 1)
        }
        Ecosystem::PhotonOs if numeric => dotted(v, 2, 2),
        Ecosystem::Suse | Ecosystem::OpenSuse => suse_release(v),
        Ecosystem::OpenEuler => Some(DistroRelease::of(v.to_ascii_uppercase())),
        _ => (!lower.is_empty()).then(|| DistroRelease::of(lower.clone())),
    }
}

/// A SUSE or openSUSE release from a product name (`Linux Enterprise Server 15 SP5` → `15.5`,
/// `Leap 15.5` → `15.5`, `Leap Micro 5.5` → `micro-5.5`, `Tumbleweed` → `tumbleweed`) or a version
/// (`15.5`).
fn suse_release(product: &str) -> Option<DistroRelease> {
    let lower = product.to_ascii_lowercase();
    if lower.contains("tumbleweed") {
        return Some(DistroRelease::of("tumbleweed"));
    }
    let mut words = lower.split_whitespace();
    let version = words.by_ref().find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let service_pack = words
        .next()
        .and_then(|w| w.strip_prefix("sp"))
        .map(|sp| &sp[..sp.find(|c: char| !c.is_ascii_digit()).unwrap_or(sp.len())])
        .filter(|sp| !sp.is_empty());
    let base = match service_pack {
        Some(sp) => dotted(&format!("{}.{sp}", leading_digits(version)), 2, 1),
        None => dotted(version, 2, 1),
    }?;
    Some(if lower.contains("micro") { DistroRelease::of(format!("micro-{base}")) } else { base })
}

/// Debian and Ubuntu code names (from distro-info-data's `debian.csv` and `ubuntu.csv`).
const CODE_NAMES: &[(Ecosystem, &str, &str)] = &[
    (Ecosystem::Debian, "buzz", "1.1"),
    (Ecosystem::Debian, "rex", "1.2"),
    (Ecosystem::Debian, "bo", "1.3"),
    (Ecosystem::Debian, "hamm", "2.0"),
    (Ecosystem::Debian, "slink", "2.1"),
    (Ecosystem::Debian, "potato", "2.2"),
    (Ecosystem::Debian, "woody", "3.0"),
    (Ecosystem::Debian, "sarge", "3.1"),
    (Ecosystem::Debian, "etch", "4.0"),
    (Ecosystem::Debian, "lenny", "5.0"),
    (Ecosystem::Debian, "squeeze", "6.0"),
    (Ecosystem::Debian, "wheezy", "7"),
    (Ecosystem::Debian, "jessie", "8"),
    (Ecosystem::Debian, "stretch", "9"),
    (Ecosystem::Debian, "buster", "10"),
    (Ecosystem::Debian, "bullseye", "11"),
    (Ecosystem::Debian, "bookworm", "12"),
    (Ecosystem::Debian, "trixie", "13"),
    (Ecosystem::Debian, "forky", "14"),
    (Ecosystem::Debian, "duke", "15"),
    (Ecosystem::Ubuntu, "warty", "4.10"),
    (Ecosystem::Ubuntu, "hoary", "5.04"),
    (Ecosystem::Ubuntu, "breezy", "5.10"),
    (Ecosystem::Ubuntu, "dapper", "6.06"),
    (Ecosystem::Ubuntu, "edgy", "6.10"),
    (Ecosystem::Ubuntu, "feisty", "7.04"),
    (Ecosystem::Ubuntu, "gutsy", "7.10"),
    (Ecosystem::Ubuntu, "hardy", "8.04"),
    (Ecosystem::Ubuntu, "intrepid", "8.10"),
    (Ecosystem::Ubuntu, "jaunty", "9.04"),
    (Ecosystem::Ubuntu, "karmic", "9.10"),
    (Ecosystem::Ubuntu, "lucid", "10.04"),
    (Ecosystem::Ubuntu, "maverick", "10.10"),
    (Ecosystem::Ubuntu, "natty", "11.04"),
    (Ecosystem::Ubuntu, "oneiric", "11.10"),
    (Ecosystem::Ubuntu, "precise", "12.04"),
    (Ecosystem::Ubuntu, "quantal", "12.10"),
    (Ecosystem::Ubuntu, "raring", "13.04"),
    (Ecosystem::Ubuntu, "saucy", "13.10"),
    (Ecosystem::Ubuntu, "trusty", "14.04"),
    (Ecosystem::Ubuntu, "utopic", "14.10"),
    (Ecosystem::Ubuntu, "vivid", "15.04"),
    (Ecosystem::Ubuntu, "wily", "15.10"),
    (Ecosystem::Ubuntu, "xenial", "16.04"),
    (Ecosystem::Ubuntu, "yakkety", "16.10"),
    (Ecosystem::Ubuntu, "zesty", "17.04"),
    (Ecosystem::Ubuntu, "artful", "17.10"),
    (Ecosystem::Ubuntu, "bionic", "18.04"),
    (Ecosystem::Ubuntu, "cosmic", "18.10"),
    (Ecosystem::Ubuntu, "disco", "19.04"),
    (Ecosystem::Ubuntu, "eoan", "19.10"),
    (Ecosystem::Ubuntu, "focal", "20.04"),
    (Ecosystem::Ubuntu, "groovy", "20.10"),
    (Ecosystem::Ubuntu, "hirsute", "21.04"),
    (Ecosystem::Ubuntu, "impish", "21.10"),
    (Ecosystem::Ubuntu, "jammy", "22.04"),
    (Ecosystem::Ubuntu, "kinetic", "22.10"),
    (Ecosystem::Ubuntu, "lunar", "23.04"),
    (Ecosystem::Ubuntu, "mantic", "23.10"),
    (Ecosystem::Ubuntu, "noble", "24.04"),
    (Ecosystem::Ubuntu, "oracular", "24.10"),
    (Ecosystem::Ubuntu, "plucky", "25.04"),
    (Ecosystem::Ubuntu, "questing", "25.10"),
    (Ecosystem::Ubuntu, "resolute", "26.04"),
];

/// The distribution and release of a Debian or Ubuntu code name (lower case).
fn code_name(name: &str) -> Option<(Ecosystem, Option<DistroRelease>)> {
    let (eco, _, version) = CODE_NAMES.iter().find(|(_, n, _)| *n == name)?;
    Some((*eco, normalize(*eco, version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_texts_compare_as_strings_inline_or_not() {
        let long = "x".repeat(INLINE + 1);
        let texts = ["", "9", "22.04", "22.03-LTS-SP3", &"y".repeat(INLINE), &long, "micro-5.5"];
        for a in texts {
            assert_eq!(DistroRelease::of(a).as_str(), a);
            assert_eq!(DistroRelease::of(a).to_string(), a);
            for b in texts {
                let (x, y) = (DistroRelease::of(a), DistroRelease::of(b));
                assert_eq!(x.cmp(&y), a.cmp(b), "{a} vs {b}");
                assert_eq!(x == y, a == b, "{a} vs {b}");
            }
        }
        assert!(matches!(DistroRelease::of(&long).0, ReleaseText::Heap(_)));
        assert!(matches!(DistroRelease::of("22.04").0, ReleaseText::Inline { .. }));
        assert!(DistroRelease::of("22.03-LTS-SP3").refines(&DistroRelease::of("22.03")));
    }

    fn rel(s: &str) -> Option<DistroRelease> {
        Some(DistroRelease::of(s))
    }

    #[test]
    fn osv_ecosystem_strings() {
        let cases = [
            ("Debian:11", Ecosystem::Debian, rel("11")),
            ("Debian:3.1", Ecosystem::Debian, rel("3.1")),
            ("Debian:6.0", Ecosystem::Debian, rel("6")),
            ("AlmaLinux:9", Ecosystem::AlmaLinux, rel("9")),
            ("Alpine:v3.20", Ecosystem::Alpine, rel("3.20")),
            ("Ubuntu:22.04:LTS", Ecosystem::Ubuntu, rel("22.04")),
            ("Ubuntu:Pro:18.04:LTS", Ecosystem::Ubuntu, rel("18.04")),
            ("Ubuntu:Pro:FIPS-updates:22.04:LTS", Ecosystem::Ubuntu, rel("22.04")),
            ("Ubuntu:24.10", Ecosystem::Ubuntu, rel("24.10")),
            ("Rocky Linux:9", Ecosystem::RockyLinux, rel("9")),
            ("openSUSE:Leap 15.5", Ecosystem::OpenSuse, rel("15.5")),
            ("openSUSE:Tumbleweed", Ecosystem::OpenSuse, rel("tumbleweed")),
            ("openSUSE:Leap Micro 5.5", Ecosystem::OpenSuse, rel("micro-5.5")),
            ("SUSE:Linux Enterprise Server 15 SP5", Ecosystem::Suse, rel("15.5")),
            ("SUSE:Linux Enterprise Server 15", Ecosystem::Suse, rel("15")),
            ("SUSE:Linux Enterprise Server 12 SP5-LTSS", Ecosystem::Suse, rel("12.5")),
            ("SUSE:Linux Micro 6.0", Ecosystem::Suse, rel("micro-6.0")),
            ("Photon OS:5.0", Ecosystem::PhotonOs, rel("5.0")),
            ("Red Hat:enterprise_linux:9::appstream", Ecosystem::RedHat, rel("9")),
            ("Red Hat:rhel_aus:8.4::appstream", Ecosystem::RedHat, rel("8")),
            ("openEuler:22.03-LTS-SP3", Ecosystem::OpenEuler, rel("22.03-LTS-SP3")),
            ("Mageia:9", Ecosystem::Mageia, rel("9")),
            ("Debian", Ecosystem::Debian, None),
            ("Red Hat", Ecosystem::RedHat, None),
            ("Maven:https://maven.google.com", Ecosystem::Maven, None),
            ("npm", Ecosystem::Npm, None),
        ];
        for (s, eco, release) in cases {
            assert_eq!(split_osv(s), Some((eco, release.clone())), "{s}");
            assert_eq!(osv_release(s), release, "{s}");
        }
        assert_eq!(split_osv("Fedora:39"), None);
    }

    #[test]
    fn purl_distro_qualifiers_and_os_release() {
        let cases = [
            ("debian-11", Ecosystem::Debian, rel("11")),
            ("debian-11.7", Ecosystem::Debian, rel("11")),
            ("rhel-9.2", Ecosystem::RedHat, rel("9")),
            ("centos-7", Ecosystem::RedHat, rel("7")),
            ("ubuntu-22.04", Ecosystem::Ubuntu, rel("22.04")),
            ("alpine-3.18.4", Ecosystem::Alpine, rel("3.18")),
            ("almalinux-9.2", Ecosystem::AlmaLinux, rel("9")),
            ("rocky-8.9", Ecosystem::RockyLinux, rel("8")),
            ("opensuse-leap-15.5", Ecosystem::OpenSuse, rel("15.5")),
            ("opensuse-tumbleweed", Ecosystem::OpenSuse, rel("tumbleweed")),
            ("sles-15.5", Ecosystem::Suse, rel("15.5")),
            ("sle-micro-5.5", Ecosystem::Suse, rel("micro-5.5")),
            ("photon-5.0", Ecosystem::PhotonOs, rel("5.0")),
            ("mageia-9", Ecosystem::Mageia, rel("9")),
            ("openeuler-22.03-LTS-SP3", Ecosystem::OpenEuler, rel("22.03-LTS-SP3")),
            ("bookworm", Ecosystem::Debian, rel("12")),
            ("debian-bookworm", Ecosystem::Debian, rel("12")),
            ("jammy", Ecosystem::Ubuntu, rel("22.04")),
            ("wolfi", Ecosystem::Wolfi, None),
        ];
        for (s, eco, release) in cases {
            assert_eq!(from_distro_qualifier(s), Some((eco, release)), "{s}");
        }
        for s in ["fedora-39", "amzn-2", "ol-9", "11", "", "ubuntu-bookworm"] {
            assert_eq!(from_distro_qualifier(s), None, "{s}");
        }
        let os = [
            ("debian", "12", Ecosystem::Debian, rel("12")),
            ("rhel", "9.2", Ecosystem::RedHat, rel("9")),
            ("ubuntu", "22.04", Ecosystem::Ubuntu, rel("22.04")),
            ("alpine", "3.18.4", Ecosystem::Alpine, rel("3.18")),
            ("openEuler", "22.03", Ecosystem::OpenEuler, rel("22.03")),
            ("debian", "", Ecosystem::Debian, None),
        ];
        for (id, version, eco, release) in os {
            assert_eq!(from_os_release(id, version), Some((eco, release)), "{id} {version}");
        }
        assert_eq!(release_of(Ecosystem::Debian, "bullseye"), rel("11"));
        assert_eq!(release_of(Ecosystem::Debian, "jammy"), None);
        assert_eq!(release_of(Ecosystem::Npm, "1"), None);
        assert_eq!(release_of(Ecosystem::Ubuntu, "ubuntu-bookworm"), None);
        assert_eq!(release_of(Ecosystem::Alpine, "v3.20"), rel("3.20"));
    }

    #[test]
    fn release_matching() {
        let r = |s: &str| osv_release(s).expect("release");
        let (d11, d12) = (r("Debian:11"), r("Debian:12"));
        assert_eq!(release_applies(Some(&d11), Some(&d11)), ReleaseMatch::Same);
        assert_eq!(release_applies(Some(&d11), Some(&d12)), ReleaseMatch::Different);
        assert_eq!(release_applies(Some(&d11), None), ReleaseMatch::Unknown);
        assert_eq!(release_applies(None, Some(&d12)), ReleaseMatch::Same);
        assert_eq!(release_applies(None, None), ReleaseMatch::Same);
        let sp3 = r("openEuler:22.03-LTS-SP3");
        let os = from_os_release("openEuler", "22.03").and_then(|(_, r)| r).expect("release");
        assert_eq!(release_applies(Some(&sp3), Some(&os)), ReleaseMatch::Unknown);
        assert_eq!(
            release_applies(Some(&r("SUSE:Linux Enterprise Server 15")), Some(&r("SUSE:x 15 SP5"))),
            ReleaseMatch::Different
        );
    }

    /// The code-name table agrees with distro-info-data's CSVs, where installed.
    #[test]
    fn code_names_agree_with_distro_info_data() {
        for (eco, file) in [(Ecosystem::Debian, "debian.csv"), (Ecosystem::Ubuntu, "ubuntu.csv")] {
            let Ok(text) = std::fs::read_to_string(format!("/usr/share/distro-info/{file}")) else {
                eprintln!("distro-info-data not installed: {file} cross-check skipped");
                continue;
            };
            let mut rows = 0;
            for line in text.lines().skip(1) {
                let fields: Vec<&str> = line.split(',').collect();
                let (Some(version), Some(series)) = (fields.first(), fields.get(2)) else { continue };
                let version = version.trim_end_matches(" LTS");
                if version.is_empty() {
                    continue;
                }
                rows += 1;
                assert_eq!(code_name(series), Some((eco, normalize(eco, version))), "{file}: {line}");
            }
            let known = CODE_NAMES.iter().filter(|(e, _, _)| *e == eco).count();
            assert_eq!(rows, known, "{file}: rows with a version vs the table");
        }
    }
}
