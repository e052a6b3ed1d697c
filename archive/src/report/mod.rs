//! `gsslog report sshd`: the views and their formats (text, csv, json, html).
