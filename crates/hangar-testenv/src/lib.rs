//! Real parts for Hangar's tests. Nothing here is mocked: the control plane is a
//! real kube-apiserver + etcd, the MCP peers are the official SDKs and reference
//! servers, Redis is the real `redis-server`.

pub mod tools;
