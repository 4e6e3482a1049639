file(REMOVE_RECURSE
  "libconvkit.a"
)
