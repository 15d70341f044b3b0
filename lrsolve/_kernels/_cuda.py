"""CUDA source shared by the CuPy kernel modules (text only: importing it needs no GPU)."""

#: ``block_sum(acc, partial)``: add ``acc`` over a one-dimensional thread block of
#: ``BLOCK`` threads (a power of two, a macro of the including source) and let thread 0
#: write the sum to ``partial[blockIdx.x]``.  Every thread of the block must call it.
BLOCK_SUM = r"""
__device__ __forceinline__ void block_sum(double acc, double* __restrict__ partial)
{
    __shared__ double s_acc[BLOCK];
    s_acc[threadIdx.x] = acc;
    __syncthreads();
    for (int h = BLOCK / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) s_acc[threadIdx.x] += s_acc[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = s_acc[0];
}
"""
