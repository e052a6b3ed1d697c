//! sshd activity, as the grid's grok patterns classified it.
//!
//! The interface with sealing: for every chunk of complete lines that `seal`
//! stores, it calls [`extract`] with the file's path relative to ROOT and
//! stores the returned bytes beside the chunk; `report` reads them back with
//! [`decode`], and runs [`extract`] itself over the live (unsealed) tails.
