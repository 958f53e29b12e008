"""Task datasets: windows, nucleotide/sequence labels, splits, shuffled negatives."""
