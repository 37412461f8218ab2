//! The HTTP requests of declared tools and resources to their backends.
//!
//! Most backends are plain `http://` services reached without a proxy. Their
//! requests go on a bare hyper client with one kept-alive pool: reqwest
//! costs about a tenth of the gateway's CPU per declared call more, mostly in
//! parsing each URL twice again (once for its redirect layer). HTTPS and
//! proxied destinations go through reqwest, which verifies certificates with
//! the system's roots and speaks to proxies. Both follow redirects only
//! within the origin, at most [`MAX_REDIRECTS`] in a row.

use std::time::Duration;

use axum::body::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioExecutor;
use url::Url;

use hangar_mcp_client::{MAX_REDIRECTS, error_chain, same_origin};

/// Largest backend response body the gateway reads.
pub const MAX_BACKEND_BODY: usize = 16 * 1024 * 1024;

/// Sends backend requests, each on the cheapest client that can carry it.
pub struct BackendHttp {
    plain: Client<HttpConnector, Full<Bytes>>,
    /// Where the environment's proxy settings (`HTTP_PROXY`, `NO_PROXY`, …) send requests.
    proxies: Matcher,
    full: reqwest::Client,
    user_agent: HeaderValue,
}

/// One request to a backend.
pub struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// A JSON body (sent as `application/json` unless the headers say otherwise).
    pub json: Option<Bytes>,
    /// For the whole exchange, redirects and body included.
    pub timeout: Duration,
}

/// A backend's whole answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a backend gave no answer.
pub enum Failure {
    Timeout,
    Unreachable(String),
    /// The answer began but its body could not be read whole.
    Body(String),
}

/// Pool bounds of the plain client, as reqwest's are set.
pub struct Pool {
    pub idle_per_host: usize,
    pub idle_timeout: Duration,
}

impl BackendHttp {
    /// `full` carries what the plain client cannot; proxies come from the environment.
    pub fn new(full: reqwest::Client, user_agent: &'static str, pool: Pool) -> Self {
        Self::with_proxies(full, user_agent, pool, Matcher::from_env())
    }

    fn with_proxies(
        full: reqwest::Client,
        user_agent: &'static str,
        pool: Pool,
        proxies: Matcher,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let plain = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool.idle_per_host)
            .pool_idle_timeout(pool.idle_timeout)
            .build(connector);
        Self {
            plain,
            proxies,
            full,
            user_agent: HeaderValue::from_static(user_agent),
        }
    }

    /// The general client, for what is not a backend request (tokens, metadata).
    pub fn full(&self) -> &reqwest::Client {
        &self.full
    }

    pub async fn send(&self, outgoing: Outgoing) -> Result<Answer, Failure> {
        let timeout = outgoing.timeout;
        let exchange = async {
            match self.plain_uri(&outgoing.url) {
                Some(uri) => self.send_plain(uri, outgoing).await,
                None => self.send_full(outgoing).await,
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }

    /// The URL as the plain client takes it, when it can: `http`, no proxy,
    /// no credentials in the URL (reqwest turns those into a header).
    fn plain_uri(&self, url: &Url) -> Option<Uri> {
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let uri = match url.fragment() {
            None => Uri::try_from(url.as_str()),
            Some(_) => Uri::try_from(without_fragment(url).as_str()),
        }
        .ok()?;
        self.proxies.intercept(&uri).is_none().then_some(uri)
    }

    async fn send_plain(&self, mut uri: Uri, outgoing: Outgoing) -> Result<Answer, Failure> {
        let Outgoing {
            mut method,
            mut url,
            mut headers,
            mut json,
            ..
        } = outgoing;
        headers
            .entry(header::USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        if json.is_some() {
            headers
                .entry(header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
        }
        let mut redirects = 0;
        loop {
            let mut request = http::Request::new(Full::new(json.clone().unwrap_or_default()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let response = self
                .plain
                .request(request)
                .await
                .map_err(|e| Failure::Unreachable(error_chain(&e)))?;
            let next = (redirects < MAX_REDIRECTS)
                .then(|| same_origin_location(&response, &url))
                .flatten()
                .and_then(|next| Some((Uri::try_from(next.as_str()).ok()?, next)));
            let Some((next_uri, next_url)) = next else {
                return whole(response).await;
            };
            redirected(response.status(), &mut method, &mut json, &mut headers);
            (uri, url, redirects) = (next_uri, next_url, redirects + 1);
        }
    }

    async fn send_full(&self, outgoing: Outgoing) -> Result<Answer, Failure> {
        let sets_content_type = outgoing.headers.contains_key(header::CONTENT_TYPE);
        let mut request = self
            .full
            .request(outgoing.method, outgoing.url)
            .headers(outgoing.headers)
            .timeout(outgoing.timeout);
        if let Some(json) = outgoing.json {
            if !sets_content_type {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            request = request.body(json);
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                Failure::Timeout
            } else {
                Failure::Unreachable(error_chain(&e))
            }
        })?;
        whole(http::Response::from(response)).await
    }
}

/// The answer with its whole body, read within [`MAX_BACKEND_BODY`].
async fn whole<B>(response: http::Response<B>) -> Result<Answer, Failure>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BACKEND_BODY)
        .collect()
        .await
        .map_err(|e| body_failure(e.as_ref()))?
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Where a redirect answer points, when it is one this client follows.
fn same_origin_location<B>(response: &http::Response<B>, from: &Url) -> Option<Url> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    let next = without_fragment(&from.join(location).ok()?);
    same_origin(from, &next).then_some(next)
}

/// The next request of a redirect, by the rules reqwest follows: a `POST`
/// answered 301 or 302, and anything answered 303, become a `GET` (a `HEAD`
/// stays one) without a body; 307 and 308 repeat the request as it was.
fn redirected(
    status: StatusCode,
    method: &mut Method,
    json: &mut Option<Bytes>,
    headers: &mut HeaderMap,
) {
    let to_get = match status {
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => *method == Method::POST,
        StatusCode::SEE_OTHER => true,
        _ => false,
    };
    if !to_get {
        return;
    }
    if *method != Method::HEAD {
        *method = Method::GET;
    }
    *json = None;
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
}

fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

fn body_failure(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Failure {
    if error.is::<http_body_util::LengthLimitError>() {
        Failure::Body(format!(
            "the response is larger than {MAX_BACKEND_BODY} bytes"
        ))
    } else if error
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_timeout)
    {
        Failure::Timeout
    } else {
        Failure::Body(error_chain(error))
    }
}

/// Puts every header of `from` in `into` in place of the values it had there.
pub fn replace_headers(into: &mut HeaderMap, from: &HeaderMap) {
    for name in from.keys() {
        into.remove(name);
        for value in from.get_all(name) {
            into.append(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::Request;
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::{any, get};

    const AGENT: &str = "hangar-test/1";

    fn pool() -> Pool {
        Pool {
            idle_per_host: 4,
            idle_timeout: Duration::from_secs(5),
        }
    }

    fn client() -> BackendHttp {
        BackendHttp::with_proxies(
            reqwest::Client::new(),
            AGENT,
            pool(),
            Matcher::builder().build(),
        )
    }

    async fn serve(router: Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        addr
    }

    /// What the request that reached a handler looked like.
    async fn described(request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        // Every value, so that a header sent twice shows.
        let header = |name: &str| {
            let values: Vec<&str> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            (!values.is_empty()).then(|| values.join(" | "))
        };
        axum::Json(serde_json::json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "contentType": header("content-type"),
            "agent": header("user-agent"),
            "key": header("x-key"),
            "body": String::from_utf8_lossy(&body),
        }))
        .into_response()
    }

    fn outgoing(method: Method, url: String) -> Outgoing {
        let mut headers = HeaderMap::new();
        headers.insert("x-key", HeaderValue::from_static("k1"));
        Outgoing {
            method,
            url: Url::parse(&url).unwrap(),
            headers,
            json: Some(Bytes::from_static(br#"{"a":1}"#)),
            timeout: Duration::from_secs(5),
        }
    }

    async fn json_of(client: &BackendHttp, outgoing: Outgoing) -> (StatusCode, serde_json::Value) {
        let Ok(answer) = client.send(outgoing).await else {
            panic!("no answer");
        };
        let json = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
        (answer.status, json)
    }

    /// The plain client and reqwest (through a proxy: the backend itself,
    /// which then sees absolute URIs) follow the same redirects the same way.
    #[tokio::test]
    async fn both_clients_follow_same_origin_redirects_alike() {
        let addr = serve(
            Router::new()
                .route("/seen", any(described))
                .route("/keep", any(|| async { Redirect::temporary("/seen?k=1") }))
                .route("/other", any(|| async { Redirect::to("/seen") }))
                .route(
                    "/moved",
                    any(|| async { (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, "seen")]) }),
                )
                .route("/loop", any(|| async { Redirect::temporary("/loop") }))
                .route(
                    "/away",
                    get(|| async { Redirect::temporary("http://localhost:1/seen") }),
                ),
        )
        .await;
        let url = |path: &str| format!("http://{addr}{path}");
        let full = hangar_mcp_client::http_client(|| {
            reqwest::Client::builder()
                .user_agent(AGENT)
                .proxy(reqwest::Proxy::http(url("")).unwrap())
        });
        let proxied = Matcher::builder().http(url("")).build();
        for (client, seen_uri) in [
            (client(), "/seen?k=1".to_string()),
            (
                BackendHttp::with_proxies(full, AGENT, pool(), proxied),
                url("/seen?k=1"),
            ),
        ] {
            let (status, seen) = json_of(&client, outgoing(Method::POST, url("/keep"))).await;
            assert_eq!(status, 200);
            assert_eq!(seen["uri"], seen_uri.as_str());
            assert_eq!(seen["method"], "POST", "307 repeats the request: {seen}");
            assert_eq!(seen["body"], r#"{"a":1}"#);
            assert_eq!(seen["contentType"], "application/json");
            assert_eq!(seen["agent"], AGENT);
            assert_eq!(
                seen["key"], "k1",
                "configured headers stay within the origin"
            );

            let mut typed = outgoing(Method::POST, url("/seen"));
            typed.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/merge-patch+json"),
            );
            let (_, seen) = json_of(&client, typed).await;
            assert_eq!(seen["contentType"], "application/merge-patch+json");

            let (_, seen) = json_of(&client, outgoing(Method::POST, url("/other"))).await;
            assert_eq!(seen["method"], "GET", "303 asks for a GET: {seen}");
            assert_eq!(seen["body"], "");
            assert_eq!(seen["contentType"], serde_json::Value::Null);

            let (_, seen) = json_of(&client, outgoing(Method::POST, url("/moved"))).await;
            assert_eq!(seen["method"], "GET", "a POST moved becomes a GET: {seen}");
            let (_, seen) = json_of(&client, outgoing(Method::PUT, url("/moved"))).await;
            assert_eq!(seen["method"], "PUT", "other methods stay: {seen}");
            assert_eq!(seen["body"], r#"{"a":1}"#);

            let (status, _) = json_of(&client, outgoing(Method::GET, url("/loop"))).await;
            assert_eq!(status, 307, "past ten redirects the last one is the answer");
            let (status, _) = json_of(&client, outgoing(Method::GET, url("/away"))).await;
            assert_eq!(status, 307, "a redirect elsewhere is the answer");
        }
    }

    #[tokio::test]
    async fn failures_say_what_failed() {
        let addr = serve(
            Router::new()
                .route("/big", get(|| async { vec![b'x'; MAX_BACKEND_BODY + 1] }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        "late"
                    }),
                ),
        )
        .await;
        let client = client();
        let mut request = outgoing(Method::GET, format!("http://{addr}/big"));
        request.json = None;
        match client.send(request).await {
            Err(Failure::Body(why)) => assert!(why.contains("larger than"), "{why}"),
            _ => panic!("an oversized body is refused"),
        }
        let mut request = outgoing(Method::GET, format!("http://{addr}/slow"));
        request.timeout = Duration::from_millis(200);
        assert!(matches!(client.send(request).await, Err(Failure::Timeout)));
        // Nothing listens on port 1.
        match client
            .send(outgoing(Method::GET, "http://127.0.0.1:1/".into()))
            .await
        {
            Err(Failure::Unreachable(why)) => assert!(why.contains("onnect"), "{why}"),
            _ => panic!("a closed port is unreachable"),
        }
    }

    #[test]
    fn only_plain_http_without_a_proxy_takes_the_plain_client() {
        let client = BackendHttp::with_proxies(
            reqwest::Client::new(),
            AGENT,
            pool(),
            Matcher::builder()
                .http("http://proxy:3128")
                .no("internal.example")
                .build(),
        );
        let plain = |url: &str| client.plain_uri(&Url::parse(url).unwrap()).is_some();
        assert!(plain("http://api.internal.example/x#part"));
        assert!(!plain("http://api.example/x"), "proxied");
        assert!(!plain("https://api.internal.example/x"), "TLS");
        assert!(
            !plain("http://user:pw@api.internal.example/x"),
            "credentials in the URL"
        );
    }

    #[test]
    fn replaced_headers_take_every_value_of_the_new_map() {
        let mut into = HeaderMap::new();
        into.append("a", HeaderValue::from_static("1"));
        into.append("a", HeaderValue::from_static("2"));
        into.append("b", HeaderValue::from_static("3"));
        let mut from = HeaderMap::new();
        from.append("a", HeaderValue::from_static("4"));
        from.append("a", HeaderValue::from_static("5"));
        replace_headers(&mut into, &from);
        let values = |name| {
            into.get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(values("a"), ["4", "5"]);
        assert_eq!(values("b"), ["3"]);
    }
}
