"""Key user flows: declared in the environment file (`model`), or written in Python over the same engine
(`runner`): steps sent in order, each recorded, cleanups that always run, and one finding per flow."""
