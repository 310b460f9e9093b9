"""NTU RGB+D action classes as data: names in label order (A1 -> index 0). Names follow the official
dataset page; NTU-60 is the first 60 of NTU-120."""
from __future__ import annotations

NTU120_CLASSES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop",                       # A1-5
    "pickup", "throw", "sitting down", "standing up (from sitting position)", "clapping",              # A6-10
    "reading", "writing", "tear up paper", "wear jacket", "take off jacket",                          # A11-15
    "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses", "put on a hat/cap",       # A16-20
    "take off a hat/cap", "cheer up", "hand waving", "kicking something",                             # A21-24
    "put something inside pocket / take out something from pocket",                                   # A25
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",                        # A26-28
    "playing with phone/tablet", "typing on a keyboard",                                              # A29-30
    "pointing to something with finger", "taking a selfie", "check time (from watch)",                # A31-33
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute",                    # A34-38
    "put the palms together", "cross hands in front (say stop)", "sneeze/cough", "staggering",        # A39-42
    "falling", "touch head (headache)", "touch chest (stomachache/heart pain)",                       # A43-45
    "touch back (backache)", "touch neck (neckache)", "nausea or vomiting condition",                 # A46-48
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person",                  # A49-50
    "kicking other person", "pushing other person", "pat on back of other person",                    # A51-53
    "point finger at the other person", "hugging other person", "giving something to other person",   # A54-56
    "touch other person's pocket", "handshaking", "walking towards each other",                       # A57-59
    "walking apart from each other",                                                                  # A60
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",                   # A61-64
    "tennis bat swing", "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up",       # A65-69
    "thumb down", "make ok sign", "make victory sign", "staple book", "counting money",                # A70-74
    "cutting nails", "cutting paper (using scissors)", "snapping fingers", "open bottle",              # A75-78
    "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper", "play magic cube",    # A79-84
    "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",                  # A85-88
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects",    # A89-92
    "shake fist", "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles",           # A93-97
    "arm swings", "running on the spot", "butt kicks (kick backward)", "cross toe touch",             # A98-101
    "side kick", "yawn", "stretch oneself", "blow nose", "hit other person with something",            # A102-106
    "wield knife towards other person", "knock over other person (hit with body)",                    # A107-108
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five",     # A109-112
    "cheers and drink", "carry something with other person", "take a photo of other person",         # A113-115
    "follow other person", "whisper in other person's ear", "exchange things with other person",      # A116-118
    "support somebody with one's hand", "finger-guessing game (playing rock-paper-scissors)",         # A119-120
)
NTU60_CLASSES = NTU120_CLASSES[:60]

SUPPORTED_VERSIONS = (60, 120)


def ntu_class_names(version: int) -> list[str]:
    """The class table of NTU RGB+D `version` (60 or 120), label index = action id - 1."""
    if version == 60:
        return list(NTU60_CLASSES)
    if version == 120:
        return list(NTU120_CLASSES)
    raise ValueError(f"NTU version must be one of {SUPPORTED_VERSIONS}, got {version!r}")
