//! The HTTP API: being written (routes, handlers, models, errors).
