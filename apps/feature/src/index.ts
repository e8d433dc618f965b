// The Dev Container Feature `cpython-prebuilt` is built here (see README.md).
// It composes @cpy/install: its options will be generated from the install
// library's option schema so the two cannot drift.
export {};
