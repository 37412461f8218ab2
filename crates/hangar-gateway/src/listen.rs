//! `--listen HOST:PORT` for the commands that serve: a host name (`localhost`)
//! or an IP address, bound before anything else starts, so a taken port is
//! reported at once and port 0 reports the port it got.

use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use anyhow::Context;
use tokio::net::TcpListener;

/// An address to serve on, as given and as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    given: String,
    /// IPv4 first: clients that resolve `localhost` try both families.
    addresses: Vec<SocketAddr>,
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(given: &str) -> Result<Self, String> {
        if given
            .rsplit_once(':')
            .is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(format!(
                "{given:?} is not HOST:PORT (e.g. 127.0.0.1:8080, localhost:8080, [::1]:8080, 0.0.0.0:8080)"
            ));
        }
        let mut addresses: Vec<SocketAddr> = given
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {given}: {e}"))?
            .collect();
        addresses.sort_by_key(|a| a.is_ipv6());
        addresses.dedup();
        if addresses.is_empty() {
            return Err(format!("{given} resolves to no address"));
        }
        Ok(Listen {
            given: given.to_string(),
            addresses,
        })
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.given)
    }
}

impl Listen {
    /// Whether every address is a loopback one (only this machine can connect).
    pub fn is_loopback(&self) -> bool {
        self.addresses.iter().all(|a| a.ip().is_loopback())
    }

    /// The port asked for (0: any free one).
    pub fn port(&self) -> u16 {
        self.addresses[0].port()
    }

    /// Binds the first address that can be bound.
    pub async fn bind(&self) -> anyhow::Result<TcpListener> {
        let mut last = None;
        for address in &self.addresses {
            match TcpListener::bind(address).await {
                Ok(listener) => return Ok(listener),
                Err(error) => last = Some(error),
            }
        }
        let error = last.expect("a Listen has at least one address");
        let hint = match error.kind() {
            std::io::ErrorKind::AddrInUse => {
                "another process listens there; stop it or choose another port with --listen"
            }
            std::io::ErrorKind::AddrNotAvailable => "no network interface has that address",
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges",
            _ => "",
        };
        Err(error).with_context(|| {
            if hint.is_empty() {
                format!("cannot listen on {}", self.given)
            } else {
                format!("cannot listen on {} ({hint})", self.given)
            }
        })
    }
}

/// The `Host` headers to accept: those given with `--allow-host`; otherwise
/// `defaults` (the loopback names) when only this machine can connect, and any
/// host when other machines can, since they reach it under names and
/// addresses this process cannot know.
pub fn allowed_hosts(listen: &Listen, given: &[String], defaults: &[String]) -> Vec<String> {
    if !given.is_empty() {
        given.to_vec()
    } else if listen.is_loopback() {
        defaults.to_vec()
    } else {
        vec!["*".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_resolve_and_nonsense_is_refused() {
        let localhost: Listen = "localhost:8080".parse().unwrap();
        assert!(localhost.is_loopback());
        assert_eq!(localhost.port(), 8080);
        assert!(localhost.addresses[0].is_ipv4(), "IPv4 first");
        assert!(!"0.0.0.0:9".parse::<Listen>().unwrap().is_loopback());
        assert!("[::1]:0".parse::<Listen>().unwrap().is_loopback());
        for bad in ["8080", "localhost", "localhost:http", "127.0.0.1:99999"] {
            let error = bad.parse::<Listen>().unwrap_err();
            assert!(error.contains("is not HOST:PORT"), "{bad}: {error}");
        }
    }

    #[tokio::test]
    async fn a_taken_port_says_so() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen: Listen = taken.local_addr().unwrap().to_string().parse().unwrap();
        let error = format!("{:#}", listen.bind().await.unwrap_err());
        assert!(error.contains("another process listens there"), "{error}");
    }

    #[test]
    fn hosts_default_to_loopback_names_only_on_loopback() {
        let defaults = vec!["localhost".to_string()];
        let loopback: Listen = "127.0.0.1:1".parse().unwrap();
        let everywhere: Listen = "0.0.0.0:1".parse().unwrap();
        assert_eq!(allowed_hosts(&loopback, &[], &defaults), defaults);
        assert_eq!(allowed_hosts(&everywhere, &[], &defaults), ["*"]);
        let given = vec!["gw.example".to_string()];
        assert_eq!(allowed_hosts(&everywhere, &given, &defaults), given);
    }
}
