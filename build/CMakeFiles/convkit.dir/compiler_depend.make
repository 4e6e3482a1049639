# Empty compiler generated dependencies file for convkit.
# This may be replaced when dependencies are built.
