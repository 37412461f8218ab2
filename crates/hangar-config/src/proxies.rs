//! Trusted proxy entries: an IP address (one host) or a CIDR.

pub use ipnet::IpNet;

/// `10.0.0.0/8`, `fd00::/8` or a single address such as `10.1.2.3`.
pub fn parse(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_cidrs_parse() {
        assert!(
            parse("10.0.0.0/8")
                .unwrap()
                .contains(&"10.9.8.7".parse::<std::net::IpAddr>().unwrap())
        );
        assert!(
            parse("127.0.0.1")
                .unwrap()
                .contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap())
        );
        assert!(
            !parse("127.0.0.1")
                .unwrap()
                .contains(&"127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        );
        assert!(parse("fd00::/8").is_some());
        for bad in ["", "10.0.0.0/33", "example.com", "10.0.0"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
