//! The CRDs against a real kube-apiserver: every validation rule rejects a bad
//! object with a message that names the field, and valid objects come back with
//! their defaults filled in. The same cases go through hangar-admission, which
//! judges manifests on a laptop: it must reach the API server's verdict, in its
//! words, with its defaults.

use hangar_api::{MCPServer, crds};
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

async fn namespace() -> (kube::Client, String) {
    let plane = hangar_testenv::shared().await;
    plane.install_crds(crds()).await;
    (plane.client(), plane.namespace().await)
}

fn api_for(client: &kube::Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let plural = format!("{}s", kind.to_lowercase()).replace("mcpregistrys", "mcpregistries");
    let gvk = GroupVersionKind::gvk(hangar_api::GROUP, hangar_api::VERSION, kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, &plural),
    )
}

fn object(yaml: &str) -> DynamicObject {
    let value: Value = serde_saphyr::from_str(yaml)
        .unwrap_or_else(|e| panic!("test YAML does not parse: {e}\n{yaml}"));
    serde_json::from_value(value).unwrap()
}

/// Creates the object and returns the API server's error message, or panics if it was accepted.
async fn rejection(client: &kube::Client, ns: &str, yaml: &str) -> String {
    let obj = object(yaml);
    let kind = obj.types.as_ref().unwrap().kind.clone();
    match api_for(client, ns, &kind)
        .create(&PostParams::default(), &obj)
        .await
    {
        Ok(_) => panic!("the API server accepted an invalid {kind}:\n{yaml}"),
        Err(kube::Error::Api(status)) => {
            assert_eq!(
                status.code, 422,
                "expected 422 Unprocessable Entity, got {status:?}"
            );
            status.message
        }
        Err(other) => panic!("unexpected error creating {kind}: {other}"),
    }
}

/// (what is wrong, manifest, text the message must contain: the field path and the rule's words)
const INVALID: &[(&str, &str, &[&str])] = &[
    (
        "container mode without image",
        "kind: MCPServer\nmetadata: {name: no-image}\nspec: {mode: container}",
        &["spec.image", "required when spec.mode is container"],
    ),
    (
        "remote mode without endpoint",
        "kind: MCPServer\nmetadata: {name: no-endpoint}\nspec: {mode: remote}",
        &["spec.endpoint", "required when spec.mode is remote"],
    ),
    (
        "image in remote mode",
        "kind: MCPServer\nmetadata: {name: remote-image}\nspec: {mode: remote, endpoint: 'https://mcp.example.com/mcp', image: nginx}",
        &["spec.image", "only used when spec.mode is container"],
    ),
    (
        "endpoint in container mode",
        "kind: MCPServer\nmetadata: {name: container-endpoint}\nspec: {image: nginx, endpoint: 'https://mcp.example.com/mcp'}",
        &["spec.endpoint", "only used when spec.mode is remote"],
    ),
    (
        "endpoint that is not http(s)",
        "kind: MCPServer\nmetadata: {name: ftp-endpoint}\nspec: {mode: remote, endpoint: 'ftp://mcp.example.com'}",
        &["spec.endpoint", "http:// or https://"],
    ),
    (
        "both grants in spec.auth",
        "kind: MCPServer\nmetadata: {name: two-grants}\nspec: {mode: remote, endpoint: 'https://mcp.example.com/mcp', auth: {oauth2ClientCredentials: {tokenUrl: 'https://id.example.com/token', clientId: a, clientSecret: {name: s, key: k}}, tokenExchange: {tokenUrl: 'https://id.example.com/token', clientId: a, clientSecret: {name: s, key: k}}}}",
        &["spec.auth", "not both"],
    ),
    (
        "an empty spec.auth",
        "kind: MCPServer\nmetadata: {name: empty-auth}\nspec: {mode: remote, endpoint: 'https://mcp.example.com/mcp', auth: {}}",
        &["spec.auth needs oauth2ClientCredentials, tokenExchange or forwardIdentity"],
    ),
    (
        "a token URL that is not http(s)",
        "kind: MCPServer\nmetadata: {name: ftp-token}\nspec: {mode: remote, endpoint: 'https://mcp.example.com/mcp', auth: {oauth2ClientCredentials: {tokenUrl: 'ftp://id.example.com', clientId: a, clientSecret: {name: s, key: k}}}}",
        &["tokenUrl", "http:// or https://"],
    ),
    (
        "port out of range",
        "kind: MCPServer\nmetadata: {name: big-port}\nspec: {image: nginx, port: 70000}",
        &["spec.port", "between 1 and 65535"],
    ),
    (
        "port that is not a number",
        "kind: MCPServer\nmetadata: {name: word-port}\nspec: {image: nginx, port: eighty}",
        &["spec.port", "must be of type integer"],
    ),
    (
        "negative replicas",
        "kind: MCPServer\nmetadata: {name: negative}\nspec: {image: nginx, replicas: -1}",
        &["spec.replicas", "must not be negative"],
    ),
    (
        "unknown transport",
        "kind: MCPServer\nmetadata: {name: websocket}\nspec: {image: nginx, transport: websocket}",
        &["spec.transport", "Unsupported value", "streamable-http"],
    ),
    (
        "a tag in spec.image and in spec.tag",
        "kind: MCPServer\nmetadata: {name: tagged}\nspec: {image: 'ghcr.io/acme/tools:1.2', tag: '1.3'}",
        &[
            "spec.tag",
            "spec.image carries a tag or digest and spec.tag is set too",
        ],
    ),
    (
        "a digest in spec.image and a tag in spec.tag",
        "kind: MCPServer\nmetadata: {name: digest}\nspec: {image: 'ghcr.io/acme/tools@sha256:ab', tag: latest}",
        &[
            "spec.tag",
            "spec.image carries a tag or digest and spec.tag is set too",
        ],
    ),
    (
        "stdio without a command",
        "kind: MCPServer\nmetadata: {name: stdio}\nspec: {image: node, transport: stdio}",
        &["spec.command", "required for spec.transport stdio"],
    ),
    (
        "stdio in remote mode",
        "kind: MCPServer\nmetadata: {name: remote-stdio}\nspec: {mode: remote, endpoint: 'https://x.example.com/mcp', transport: stdio}",
        &["spec.transport", "needs a container"],
    ),
    (
        "idleTTL that is not a duration",
        "kind: MCPServer\nmetadata: {name: ttl}\nspec: {image: nginx, idleTTL: 5 minutes}",
        &["spec.idleTTL", "duration such as 30s"],
    ),
    (
        "a wake timeout of zero",
        "kind: MCPServer\nmetadata: {name: wake}\nspec: {image: nginx, replicas: 0, wakeTimeout: 0s}",
        &["spec.wakeTimeout", "positive duration"],
    ),
    (
        "zero health-check interval",
        "kind: MCPServer\nmetadata: {name: interval}\nspec: {image: nginx, healthCheck: {interval: 0s}}",
        &["spec.healthCheck.interval", "positive duration"],
    ),
    (
        "health-check timeout longer than the interval",
        "kind: MCPServer\nmetadata: {name: timeout}\nspec: {image: nginx, healthCheck: {interval: 10s, timeout: 1m}}",
        &[
            "spec.healthCheck.timeout",
            "must not be longer than spec.healthCheck.interval",
        ],
    ),
    (
        "circuit-breaker threshold of zero",
        "kind: MCPServer\nmetadata: {name: breaker}\nspec: {image: nginx, circuitBreaker: {failureThreshold: 0}}",
        &["spec.circuitBreaker.failureThreshold", "at least 1"],
    ),
    (
        "autoscaling with min above max",
        "kind: MCPServer\nmetadata: {name: hpa}\nspec: {image: nginx, autoscaling: {minReplicas: 5, maxReplicas: 2}}",
        &[
            "spec.autoscaling.minReplicas",
            "must not exceed maxReplicas",
        ],
    ),
    (
        "config file name with a slash",
        "kind: MCPServer\nmetadata: {name: files}\nspec: {image: nginx, config: {files: {'a/b.json': '{}'}}}",
        &["spec.config.files", "file names may only contain"],
    ),
    (
        "header with both value and valueFrom",
        "kind: MCPServer\nmetadata: {name: header}\nspec: {mode: remote, endpoint: 'https://x.example.com/mcp', headers: [{name: X-Key, value: a, valueFrom: {secretKeyRef: {name: s, key: k}}}]}",
        &["spec.headers[0]", "exactly one of value or valueFrom"],
    ),
    (
        "unknown group strategy",
        "kind: MCPServerGroup\nmetadata: {name: weighted}\nspec: {selector: {}, strategy: Weighted}",
        &["spec.strategy", "Unsupported value", "RoundRobin"],
    ),
    (
        "too many retries",
        "kind: MCPServerGroup\nmetadata: {name: retries}\nspec: {selector: {}, failover: {maxRetries: 11}}",
        &["spec.failover.maxRetries", "between 0 and 10"],
    ),
    (
        "healthy percentage above 100",
        "kind: MCPServerGroup\nmetadata: {name: percent}\nspec: {selector: {}, healthPolicy: {minHealthyPercentage: 150}}",
        &[
            "spec.healthPolicy.minHealthyPercentage",
            "between 0 and 100",
        ],
    ),
    (
        "ConfigMap discovery without a ConfigMap",
        "kind: MCPDiscoverySource\nmetadata: {name: cm}\nspec: {type: ConfigMap}",
        &["spec.configMapRef", "required when spec.type is ConfigMap"],
    ),
    (
        "refresh interval that is not a duration",
        "kind: MCPDiscoverySource\nmetadata: {name: refresh}\nspec: {type: Namespace, refreshInterval: soon}",
        &["spec.refreshInterval", "duration"],
    ),
    (
        "tool backend with both service and url",
        "kind: MCPTool\nmetadata: {name: both}\nspec: {backend: {service: {name: s, port: 80}, url: 'http://x'}}",
        &["spec.backend", "exactly one of service or url"],
    ),
    (
        "tool backend port zero",
        "kind: MCPTool\nmetadata: {name: port}\nspec: {backend: {service: {name: s, port: 0}}}",
        &["spec.backend.service.port", "between 1 and 65535"],
    ),
    (
        "tool input schema that is not an object schema",
        "kind: MCPTool\nmetadata: {name: schema}\nspec: {inputSchema: {type: array}, backend: {url: 'http://x.example.com'}}",
        &["spec.inputSchema", "type: object"],
    ),
    (
        "tool auth with both grants",
        "kind: MCPTool\nmetadata: {name: two-grants}\nspec: {backend: {url: 'https://api.example.com'}, auth: {oauth2ClientCredentials: {tokenUrl: 'https://id.example.com/token', clientId: a, clientSecret: {name: s, key: k}}, tokenExchange: {tokenUrl: 'https://id.example.com/token', clientId: a, clientSecret: {name: s, key: k}}}}",
        &["spec.auth", "not both"],
    ),
    (
        "passUnlisted beside a source's filters",
        "kind: MCPGateway\nmetadata: {name: pass-filtered}\nspec: {servers: [{name: a, passUnlisted: true, tools: {deny: [x]}}]}",
        &["spec.servers[].passUnlisted", "use one or the other"],
    ),
    (
        "tool name with spaces",
        "kind: MCPTool\nmetadata: {name: spaces}\nspec: {name: 'get weather', backend: {url: 'http://x.example.com'}}",
        &["spec.name", "letters, digits"],
    ),
    (
        "prompt with duplicate arguments",
        "kind: MCPPrompt\nmetadata: {name: dup}\nspec: {arguments: [{name: a}, {name: a}], messages: [{role: user, text: hi}]}",
        &["spec.arguments[1]", "Duplicate value"],
    ),
    (
        "prompt without messages",
        "kind: MCPPrompt\nmetadata: {name: empty}\nspec: {messages: []}",
        &["spec.messages", "at least 1"],
    ),
    (
        "prompt message with an unknown role",
        "kind: MCPPrompt\nmetadata: {name: role}\nspec: {messages: [{role: system, text: hi}]}",
        &["spec.messages[0].role", "Unsupported value"],
    ),
    (
        "resource with both inline and http",
        "kind: MCPResource\nmetadata: {name: both}\nspec: {uri: 'docs://a', inline: {text: a}, http: {url: 'http://x.example.com'}}",
        &["spec.inline", "exactly one of spec.inline or spec.http"],
    ),
    (
        "resource URI without a scheme",
        "kind: MCPResource\nmetadata: {name: uri}\nspec: {uri: handbook, inline: {text: a}}",
        &["spec.uri", "URI with a scheme"],
    ),
    (
        "inline resource with text and blob",
        "kind: MCPResource\nmetadata: {name: textblob}\nspec: {uri: 'docs://a', inline: {text: a, blob: YQ==}}",
        &[
            "spec.inline",
            "exactly one of spec.inline.text or spec.inline.blob",
        ],
    ),
    (
        "gateway Redis with both url and managed",
        "kind: MCPGateway\nmetadata: {name: redis}\nspec: {redis: {url: 'redis://r:6379', managed: true}}",
        &["spec.redis", "exactly one of url, urlFrom or managed"],
    ),
    (
        "gateway Redis URL with the wrong scheme",
        "kind: MCPGateway\nmetadata: {name: redis-url}\nspec: {redis: {url: 'http://r:6379'}}",
        &["spec.redis.url", "redis://"],
    ),
    (
        "managed Redis in cluster mode",
        "kind: MCPGateway\nmetadata: {name: redis-cluster}\nspec: {redis: {managed: true, mode: Cluster}}",
        &["spec.redis.mode", "managed runs a single Redis"],
    ),
    (
        "a password for a managed Redis",
        "kind: MCPGateway\nmetadata: {name: redis-password}\nspec: {redis: {managed: true, passwordFrom: {name: s, key: k}}}",
        &["spec.redis.passwordFrom", "generated password"],
    ),
    (
        "TLS material for a plain redis:// URL",
        "kind: MCPGateway\nmetadata: {name: redis-tls}\nspec: {redis: {url: 'redis://r:6379', tls: {secretName: t}}}",
        &["spec.redis.tls", "rediss://"],
    ),
    (
        "gateway auth with no method",
        "kind: MCPGateway\nmetadata: {name: auth}\nspec: {auth: {}}",
        &["spec.auth", "needs bearerTokens, oidc, or both"],
    ),
    (
        "authorization rule that matches nobody",
        "kind: MCPGateway\nmetadata: {name: authz}\nspec: {auth: {bearerTokens: {secretRef: {name: t, key: tokens}}, authorization: {rules: [{tools: ['*']}]}}}",
        &[
            "spec.auth.authorization.rules[0]",
            "needs subjects, groups or scopes",
        ],
    ),
    (
        "trusted proxy that is a host name",
        "kind: MCPGateway\nmetadata: {name: proxies}\nspec: {trustedProxies: ['10.0.0.0/8', 'ingress.example.com']}",
        &["spec.trustedProxies", "IP address or a CIDR"],
    ),
    (
        "two curation overrides of one tool",
        "kind: MCPGateway\nmetadata: {name: twice}\nspec: {tools: {overrides: [{tool: a, title: A}, {tool: a, title: B}]}}",
        &["spec.tools.overrides[1]", "Duplicate value"],
    ),
    (
        "curation override renaming to an invalid name",
        "kind: MCPGateway\nmetadata: {name: bad-rename}\nspec: {servers: [{name: everything, tools: {overrides: [{tool: echo, name: 'two words'}]}}]}",
        &["spec.servers[0].tools.overrides[0].name", "letters, digits"],
    ),
    (
        "tool search returning more by default than at most",
        "kind: MCPGateway\nmetadata: {name: crossed}\nspec: {toolSearch: {defaultResults: 30}}",
        &[
            "spec.toolSearch.defaultResults",
            "must not be more than maxResults",
        ],
    ),
    (
        "tool search returning no tools",
        "kind: MCPGateway\nmetadata: {name: nothing}\nspec: {toolSearch: {maxResults: 0, defaultResults: 0}}",
        &["spec.toolSearch.maxResults", "between 1 and 50"],
    ),
    (
        "registry with both url and ConfigMap",
        "kind: MCPRegistry\nmetadata: {name: both}\nspec: {url: 'https://registry.example.com', configMapRef: {name: catalog}}",
        &["spec.url", "exactly one of spec.url or spec.configMapRef"],
    ),
    (
        "registry sync interval in days",
        "kind: MCPRegistry\nmetadata: {name: days}\nspec: {url: 'https://registry.example.com', syncInterval: 1d}",
        &["spec.syncInterval", "duration"],
    ),
];

#[tokio::test]
async fn invalid_resources_are_rejected_naming_the_field() {
    let (client, ns) = namespace().await;
    let mut wrong = Vec::new();
    for (what, body, expected) in INVALID {
        let yaml = format!("apiVersion: mcp-hangar.io/v1alpha1\n{body}");
        let message = rejection(&client, &ns, &yaml).await;
        let missing: Vec<_> = expected
            .iter()
            .filter(|text| !message.contains(*text))
            .collect();
        if !missing.is_empty() {
            wrong.push(format!("{what}: message lacks {missing:?}: {message}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} rejections were unclear:\n{}",
        wrong.len(),
        INVALID.len(),
        wrong.join("\n")
    );
}

async fn create(client: &kube::Client, ns: &str, yaml: &str) -> Value {
    let obj = object(yaml);
    let kind = obj.types.as_ref().unwrap().kind.clone();
    let created = api_for(client, ns, &kind)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("the API server rejected a valid {kind}: {e}\n{yaml}"));
    serde_json::to_value(created).unwrap()
}

fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

/// (valid manifest, fields the API server must have defaulted)
fn valid() -> Vec<(&'static str, Vec<(&'static str, Value)>)> {
    vec![
        (
            "kind: MCPServer\nmetadata: {name: basic}\nspec: {image: ghcr.io/acme/tools}",
            vec![
                ("/spec/mode", json!("container")),
                // No default: a tag written in spec.image is used as is.
                ("/spec/tag", Value::Null),
                ("/spec/port", json!(8080)),
                ("/spec/path", json!("/mcp")),
                ("/spec/transport", json!("streamable-http")),
                ("/spec/replicas", json!(1)),
                ("/spec/idleTTL", json!("5m")),
                ("/spec/wakeTimeout", json!("2m")),
                ("/spec/serviceType", json!("ClusterIP")),
                (
                    "/spec/healthCheck",
                    json!({"enabled": true, "interval": "30s", "timeout": "5s", "failureThreshold": 3}),
                ),
                (
                    "/spec/circuitBreaker",
                    json!({"enabled": true, "failureThreshold": 5, "resetTimeout": "30s"}),
                ),
            ],
        ),
        (
            // Seed 000's quick start.
            "kind: MCPServer\nmetadata: {name: quick-start}\nspec: {image: 'ghcr.io/my-org/my-mcp-tools:latest'}",
            vec![
                ("/spec/image", json!("ghcr.io/my-org/my-mcp-tools:latest")),
                ("/spec/tag", Value::Null),
            ],
        ),
        (
            "kind: MCPServer\nmetadata: {name: pinned}\nspec: {image: 'localhost:5000/tools@sha256:ab'}",
            vec![("/spec/tag", Value::Null)],
        ),
        (
            "kind: MCPServer\nmetadata: {name: remote}\nspec: {mode: remote, endpoint: 'https://mcp.example.com/mcp', healthCheck: {interval: 10s}}",
            vec![(
                "/spec/healthCheck",
                json!({"enabled": true, "interval": "10s", "timeout": "5s", "failureThreshold": 3}),
            )],
        ),
        (
            "kind: MCPServer\nmetadata: {name: stdio}\nspec: {image: node, tag: '22-alpine', transport: stdio, command: [npx, -y, '@modelcontextprotocol/server-everything'], replicas: 0, registry: {name: r, server: io.github.x/y}}",
            vec![
                ("/spec/replicas", json!(0)),
                ("/spec/registry/version", json!("latest")),
            ],
        ),
        (
            "kind: MCPServerGroup\nmetadata: {name: group}\nspec: {selector: {matchLabels: {team: search}}}",
            vec![
                ("/spec/strategy", json!("RoundRobin")),
                ("/spec/failover/maxRetries", json!(2)),
                ("/spec/healthPolicy/minHealthyPercentage", json!(50)),
            ],
        ),
        (
            "kind: MCPDiscoverySource\nmetadata: {name: discovery}\nspec: {type: ConfigMap, configMapRef: {name: servers}}",
            vec![
                ("/spec/mode", json!("Additive")),
                ("/spec/refreshInterval", json!("1m")),
                ("/spec/configMapRef/key", json!("servers.yaml")),
            ],
        ),
        (
            "kind: MCPTool\nmetadata: {name: crm-search}\nspec: {backend: {url: 'https://crm.example.com/search'}, auth: {tokenExchange: {tokenUrl: 'https://id.example.com/token', clientId: hangar, clientSecret: {name: idp, key: secret}, scopes: [crm.read]}, forwardIdentity: {subjectHeader: X-User}}}",
            vec![
                ("/spec/auth/tokenExchange/clientId", json!("hangar")),
                ("/spec/auth/forwardIdentity/subjectHeader", json!("X-User")),
            ],
        ),
        (
            "kind: MCPTool\nmetadata: {name: weather}\nspec: {backend: {service: {name: weather, port: 80}}}",
            vec![
                ("/spec/inputSchema", json!({"type": "object"})),
                ("/spec/timeout", json!("30s")),
            ],
        ),
        (
            "kind: MCPPrompt\nmetadata: {name: review}\nspec: {arguments: [{name: code}], messages: [{role: user, text: 'Review {{code}}'}]}",
            vec![("/spec/arguments/0/required", json!(false))],
        ),
        (
            "kind: MCPResource\nmetadata: {name: handbook}\nspec: {uri: 'docs://handbook', inline: {blob: aGVsbG8=}}",
            vec![("/spec/timeout", json!("10s"))],
        ),
        (
            "kind: MCPGateway\nmetadata: {name: gateway}\nspec: {toolSelector: {matchLabels: {gateway: main}}, redis: {managed: true}}",
            vec![
                ("/spec/replicas", json!(2)),
                ("/spec/port", json!(8080)),
                (
                    "/spec/toolNaming",
                    json!({"prefix": true, "separator": "_", "onConflict": "Reject"}),
                ),
                ("/spec/sessions/idleTimeout", json!("30m")),
                ("/spec/redis/mode", json!("Standalone")),
            ],
        ),
        (
            "kind: MCPGateway\nmetadata: {name: curated}\nspec: {tools: {allow: ['everything_*'], deny: ['*_env'], overrides: [{tool: everything_echo, name: shout, annotations: {readOnlyHint: true}, fixedArguments: {mode: {loud: true}}, defaultArguments: {message: hi, times: 2}}]}, prompts: {deny: ['*']}, servers: [{name: everything, resourceUris: {allow: ['demo://*']}}]}",
            vec![
                (
                    "/spec/tools/overrides/0/fixedArguments",
                    json!({"mode": {"loud": true}}),
                ),
                (
                    "/spec/tools/overrides/0/defaultArguments",
                    json!({"message": "hi", "times": 2}),
                ),
                ("/spec/servers/0/resourceUris/allow", json!(["demo://*"])),
            ],
        ),
        (
            "kind: MCPGateway\nmetadata: {name: searching}\nspec: {toolSearch: {}}",
            vec![
                ("/spec/toolSearch/defaultResults", json!(5)),
                ("/spec/toolSearch/maxResults", json!(20)),
            ],
        ),
        (
            "kind: MCPRegistry\nmetadata: {name: registry}\nspec: {url: 'https://registry.modelcontextprotocol.io'}",
            vec![("/spec/syncInterval", json!("1h"))],
        ),
    ]
}

#[tokio::test]
async fn valid_resources_are_accepted_with_defaults() {
    let (client, ns) = namespace().await;
    let cases = valid();
    let mut wrong = Vec::new();
    for (body, defaults) in &cases {
        let created = create(
            &client,
            &ns,
            &format!("apiVersion: mcp-hangar.io/v1alpha1\n{body}"),
        )
        .await;
        for (pointer, expected) in defaults {
            let actual = at(&created, pointer);
            if actual != expected {
                wrong.push(format!(
                    "{body}\n  {pointer}: expected {expected}, got {actual}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "defaults were not applied:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn kubectl_get_shows_the_mcpserver_columns() {
    let (client, ns) = namespace().await;
    create(&client, &ns, "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: columns}\nspec: {image: ghcr.io/acme/tools, tag: '1.0'}").await;
    // What kubectl asks for: the server-side Table rendering of the printer columns.
    let request = http::Request::get(format!(
        "/apis/mcp-hangar.io/v1alpha1/namespaces/{ns}/mcpservers"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: Value = client.request(request).await.unwrap();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Name", "Mode", "Image", "Tag", "Replicas", "Ready", "State", "Tools", "Age"
        ]
    );
    // Image and Tag are what the pods run, from status (the operator's tests
    // show them filled in).
    let row = &table["rows"][0]["cells"];
    assert_eq!(row[0], "columns");
    assert_eq!(row[1], "container");
    assert_eq!(row[4], 1);
}

#[tokio::test]
async fn the_scale_subresource_sets_replicas() {
    let (client, ns) = namespace().await;
    create(&client, &ns, "apiVersion: mcp-hangar.io/v1alpha1\nkind: MCPServer\nmetadata: {name: scaled}\nspec: {image: ghcr.io/acme/tools}").await;
    let servers: Api<MCPServer> = Api::namespaced(client, &ns);
    let patch = json!({"spec": {"replicas": 0}});
    servers
        .patch_scale(
            "scaled",
            &Default::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let server = servers.get("scaled").await.unwrap();
    assert_eq!(
        server.spec.replicas, 0,
        "kubectl scale --replicas=0 must reach spec.replicas"
    );
}

/// Every case above through hangar-admission and the API server: the same
/// verdict; locally, exactly the errors the API server printed, word for word;
/// an accepted object stored with exactly the API server's defaults.
#[tokio::test]
async fn the_local_admission_judges_every_case_as_the_api_server() {
    let (client, ns) = namespace().await;
    let admission = hangar_admission::Admission::new(&crds());
    let mut wrong = Vec::new();
    for (what, body, expected) in INVALID {
        let yaml = format!("apiVersion: mcp-hangar.io/v1alpha1\n{body}");
        let server = rejection(&client, &ns, &yaml).await;
        let local = admission.admit(&mut serde_json::to_value(object(&yaml)).unwrap());
        if local.is_empty() {
            wrong.push(format!(
                "{what}: accepted locally, the API server said: {server}"
            ));
        }
        // What the API server printed after "<Kind> "<name>" is invalid: ",
        // one error or a bracketed list: every error must be a local one,
        // and every local one must be there.
        let mut unmatched = server
            .split_once(" is invalid: ")
            .map_or(server.as_str(), |(_, errors)| errors)
            .to_string();
        for error in &local {
            match unmatched.find(error.as_str()) {
                Some(at) => unmatched.replace_range(at..at + error.len(), ""),
                None => wrong.push(format!(
                    "{what}: locally {error:?}, the API server: {server}"
                )),
            }
        }
        if !unmatched.chars().all(|c| "[], ".contains(c)) {
            wrong.push(format!(
                "{what}: the API server also said {unmatched:?}: {server}"
            ));
        }
        let joined = local.join("\n");
        for text in expected.iter().filter(|t| !joined.contains(*t)) {
            wrong.push(format!("{what}: the local errors lack {text:?}: {joined}"));
        }
    }
    for (body, _) in valid() {
        let yaml = format!("apiVersion: mcp-hangar.io/v1alpha1\n{body}");
        let stored = create(&client, &ns, &yaml).await;
        let mut local = serde_json::to_value(object(&yaml)).unwrap();
        let errors = admission.admit(&mut local);
        if !errors.is_empty() {
            wrong.push(format!("{body}: refused locally: {errors:?}"));
        }
        if local["spec"] != stored["spec"] {
            wrong.push(format!(
                "{body}: defaulted locally to {}, by the API server to {}",
                local["spec"], stored["spec"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "the laptop and the cluster disagree:\n{}",
        wrong.join("\n")
    );
}
