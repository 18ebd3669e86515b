//! Pure types and rules: no I/O. Raw request strings become these at the edge.

mod fields;
mod password;
mod user;

pub use fields::FieldErrors;
pub use password::{NewPassword, PasswordPolicy, Secret};
pub use user::{Email, User, UserId, Username};
