"""Execute stage and the kernels it runs in: nbclient, the sandbox, warm kernels forked from a zygote."""
