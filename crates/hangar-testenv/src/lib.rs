//! hangar-testenv
