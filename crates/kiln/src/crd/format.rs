//! The string `format`s the Kubernetes API server checks in custom resources.
//!
//! The API server validates custom resources with kube-openapi, whose format checker applies to
//! strings only and knows a fixed list of formats (go-openapi's `strfmt` registry). So
//! `int32`/`int64`/`float`/`double` constrain nothing (a CRD field `format: int32` accepts
//! 2^40), and any format outside the list is ignored. Of the list, the ones a platform can meet
//! are checked here; the exotic rest (`isbn`, `creditcard`, `ssn`, `hexcolor`, `rgbcolor`,
//! `bsonobjectid`) and the ones whose Go parser accepts nearly anything (`uri`, `password`) are
//! treated as unknown, so kiln never refuses what the API server would accept.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Byte,
    Date,
    DateTime,
    Duration,
    Email,
    Hostname,
    Ipv4,
    Ipv6,
    Cidr,
    Mac,
    Uuid,
    Uuid3,
    Uuid4,
    Uuid5,
}

impl Format {
    /// The format named in a schema, or `None` for one the API server does not check.
    pub(crate) fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "byte" => Format::Byte,
            "date" => Format::Date,
            "date-time" | "datetime" => Format::DateTime,
            "duration" => Format::Duration,
            "email" => Format::Email,
            "hostname" => Format::Hostname,
            "ipv4" => Format::Ipv4,
            "ipv6" => Format::Ipv6,
            "cidr" => Format::Cidr,
            "mac" => Format::Mac,
            "uuid" => Format::Uuid,
            "uuid3" => Format::Uuid3,
            "uuid4" => Format::Uuid4,
            "uuid5" => Format::Uuid5,
            _ => return None,
        })
    }

    /// What to call a value of this format in a message ("not a valid ...").
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Byte => "base64 string (format `byte`)",
            Format::Date => "date (format `date`, like 2024-01-31)",
            Format::DateTime => "date-time (format `date-time`, like 2024-01-31T12:00:00Z)",
            Format::Duration => "duration (format `duration`, like 1h30m)",
            Format::Email => "email address (format `email`)",
            Format::Hostname => "hostname (format `hostname`)",
            Format::Ipv4 => "IPv4 address (format `ipv4`)",
            Format::Ipv6 => "IPv6 address (format `ipv6`)",
            Format::Cidr => "CIDR (format `cidr`, like 10.0.0.0/8)",
            Format::Mac => "MAC address (format `mac`)",
            Format::Uuid => "UUID (format `uuid`)",
            Format::Uuid3 => "version 3 UUID (format `uuid3`)",
            Format::Uuid4 => "version 4 UUID (format `uuid4`)",
            Format::Uuid5 => "version 5 UUID (format `uuid5`)",
        }
    }

    pub(crate) fn accepts(self, s: &str) -> bool {
        match self {
            // Go's base64 decoder skips line breaks.
            Format::Byte => {
                let joined: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
                base64::engine::general_purpose::STANDARD
                    .decode(joined)
                    .is_ok()
            }
            Format::Date => date(s),
            Format::DateTime => date_time(s),
            Format::Duration => duration(s),
            Format::Email => email(s),
            Format::Hostname => s.len() <= 255 && regex(&HOSTNAME).is_match(s),
            Format::Ipv4 => s.parse::<Ipv4Addr>().is_ok(),
            Format::Ipv6 => s.parse::<Ipv6Addr>().is_ok(),
            Format::Cidr => cidr(s),
            Format::Mac => regex(&MAC).is_match(s),
            Format::Uuid => regex(&UUID).is_match(s),
            Format::Uuid3 => uuid_version(s, '3'),
            Format::Uuid4 => uuid_version(s, '4'),
            Format::Uuid5 => uuid_version(s, '5'),
        }
    }
}

fn regex(cell: &'static LazyLock<Regex>) -> &'static Regex {
    cell
}

/// strfmt's hostname rule (RFC 1123 labels; letters may be any Unicode letter; a dotted name
/// ends in a label of letters).
static HOSTNAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$",
    )
    .expect("hostname pattern")
});

/// Go's `net.ParseMAC`: 6, 8 or 20 octets, separated by `:` or `-`, or dotted groups of four.
static MAC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){7}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){19}|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2}|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){3}|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){9})$",
    )
    .expect("mac pattern")
});

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$")
        .expect("uuid pattern")
});

static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?$",
    )
    .expect("date-time pattern")
});

/// Go's `time.ParseDuration` (`1h30m`, `-1.5s`, `0`) or strfmt's own spelling (`3 days`, `1w`).
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:0|[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+|(?:[0-9]+\s*(?:ns|us|µs|μs|ms|s|m|h|d|w|wk|seconds?|minutes?|hours?|days?|weeks?)\s*)+)$",
    )
    .expect("duration pattern")
});

fn uuid_version(s: &str, version: char) -> bool {
    regex(&UUID).is_match(s) && {
        let hex: Vec<char> = s.chars().filter(|c| *c != '-').collect();
        hex.get(12) == Some(&version)
            && matches!(hex.get(16), Some('8' | '9' | 'a' | 'b' | 'A' | 'B'))
    }
}

fn date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && ymd(&s[0..4], &s[5..7], &s[8..10])
}

fn ymd(y: &str, m: &str, d: &str) -> bool {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y) && digits(m) && digits(d)) {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>())
    else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn date_time(s: &str) -> bool {
    let Some(c) = regex(&DATE_TIME).captures(s) else {
        return false;
    };
    let field = |i: usize| {
        c.get(i)
            .map_or(0, |m| m.as_str().parse::<u32>().unwrap_or(99))
    };
    ymd(&c[1], &c[2], &c[3]) && field(4) < 24 && field(5) < 60 && field(6) < 61
}

fn duration(s: &str) -> bool {
    regex(&DURATION).is_match(s)
}

/// Go's `net/mail.ParseAddress`, loosely: `local@domain` or `Name <local@domain>`.
fn email(s: &str) -> bool {
    let addr = match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        _ => s,
    };
    match addr.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !addr.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// Go's `net.ParseCIDR`: an address, `/`, and a prefix length that fits it.
fn cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
        return false;
    }
    let Ok(prefix) = prefix.parse::<u32>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => prefix <= 32,
        Ok(IpAddr::V6(_)) => prefix <= 128,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Format::{self, *};

    #[test]
    fn formats_accept_and_refuse() {
        let cases: &[(Format, &[&str], &[&str])] = &[
            (
                Byte,
                &["aGVsbG8=", "", "aGVs\nbG8="],
                &["hello!", "aGVsbG8"],
            ),
            (
                Date,
                &["2024-02-29"],
                &["2023-02-29", "2024-1-01", "2024-13-01"],
            ),
            (
                DateTime,
                &[
                    "2024-01-31T12:00:00Z",
                    "2024-01-31T12:00:00.5+02:00",
                    "2024-01-31T12:00",
                ],
                &["2024-01-31", "yesterday", "2024-01-31T25:00:00Z"],
            ),
            (
                Duration,
                &["1h30m", "0", "-1.5s", "300ms", "3 days", "1w"],
                &["1 fortnight", "h", "5"],
            ),
            (
                Email,
                &["a@example.com", "Ops <ops@example.com>"],
                &["example.com", "a b@c"],
            ),
            (
                Hostname,
                &["example.com", "localhost", "a-b.example.io"],
                &["-a.example.com", "a..b", "exa mple.com"],
            ),
            (Ipv4, &["10.0.0.1"], &["10.0.0", "::1", "010.0.0.1"]),
            (
                Ipv6,
                &["::1", "fe80::1", "::ffff:10.0.0.1"],
                &["10.0.0.1", "fe80::1%eth0"],
            ),
            (
                Cidr,
                &["10.0.0.0/8", "fd00::/64"],
                &["10.0.0.0", "10.0.0.0/33", "fd00::/129"],
            ),
            (
                Mac,
                &["01:23:45:67:89:ab", "01-23-45-67-89-AB", "0123.4567.89ab"],
                &["01:23:45:67:89", "0123456789ab"],
            ),
            (
                Uuid,
                &[
                    "123e4567-e89b-12d3-a456-426614174000",
                    "123E4567E89B12D3A456426614174000",
                ],
                &["123e4567-e89b-12d3-a456"],
            ),
            (
                Uuid4,
                &["123e4567-e89b-42d3-a456-426614174000"],
                &["123e4567-e89b-12d3-a456-426614174000"],
            ),
        ];
        for (format, good, bad) in cases {
            for s in *good {
                assert!(format.accepts(s), "{format:?} should accept {s:?}");
            }
            for s in *bad {
                assert!(!format.accepts(s), "{format:?} should refuse {s:?}");
            }
        }
        for ignored in ["int32", "int64", "double", "uri", "password", "made-up"] {
            assert_eq!(Format::parse(ignored), None, "{ignored}");
        }
    }
}
