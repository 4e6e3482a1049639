# Empty compiler generated dependencies file for seed_test.
# This may be replaced when dependencies are built.
