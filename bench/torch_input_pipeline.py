"""torchvision's side of bench/input_vs_torch: one epoch of ImageFolder(DIR/train) through a
DataLoader of NUM_WORKERS worker processes, shuffled, batches of BATCH, each image converted to
CHANNELS (PIL's convert, as ImageFolder's loader and resnetc do), Resize((H, W)) (bilinear),
ToTensor and Normalize(MEAN, STD); prints the images per second from creating the iterator to
the last batch (the workers' start and every decode included, as in a training epoch).

    python torch_input_pipeline.py DIR CHANNELS H W BATCH NUM_WORKERS MEAN STD
"""
import os
import sys
import time

import torch
from PIL import Image
from torchvision import datasets, transforms

MODE = "L"


def read_image(path):
    """torchvision's pil_loader, converting to the network's channels instead of always RGB."""
    with open(path, "rb") as f:
        return Image.open(f).convert(MODE)


def main():
    directory, channels, height, width, batch, workers = sys.argv[1], *map(int, sys.argv[2:7])
    mean, std = float(sys.argv[7]), float(sys.argv[8])
    torch.set_num_threads(1)  # each worker decodes one image at a time, as resnetc's threads do
    global MODE
    MODE = "L" if channels == 1 else "RGB"
    data = datasets.ImageFolder(os.path.join(directory, "train"),
                                transform=transforms.Compose([
                                    transforms.Resize((height, width)),
                                    transforms.ToTensor(),
                                    transforms.Normalize([mean] * channels, [std] * channels)]),
                                loader=read_image)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers)
    start = time.perf_counter()
    seen = 0
    for images, _ in loader:
        seen += images.shape[0]
    seconds = time.perf_counter() - start
    print(f"{seen / seconds:.1f}")


main()
