//! hangar-gateway
