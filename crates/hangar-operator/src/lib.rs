//! hangar-operator
