//! The training-data poisoning scanner behind `portcullis dataset scan`.
