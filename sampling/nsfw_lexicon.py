"""An offline explicit-content lexicon with context rules, scored per category.

Captions of multimodal datasets describe animals, food, sports and tools, so many
words that look sensitive are clean in context ("chicken breasts", "a cock crows",
"shooting a basketball", "a naked mole rat", "the nipple of a baby bottle"). Each rule
here is a word or a phrase with a weight for one category and three kinds of context:

- ``unless``: words anywhere in the caption that make the match clean (food words
  for "breasts", bird words for "cock");
- ``next`` / ``prev``: the word right after / before the match that makes it clean
  ("naked *mole*", "nude *colored*", "*same* sex");
- ``boost``: words anywhere in the caption that make the match explicit, raising its
  weight to ``boost_weight`` ("sucking" near "cock", "bare" near "breasts").

A caption's score in a category is the noisy-or of its matched rules' weights, so two
weak cues ("moaning", "sexy") together pass a threshold that one alone does not.
Animals mating described neutrally ("two frogs mating") are clean: "mating" is not in
the lexicon and "copulating" is clean next to an animal word. Sex education, sex
ratios, sexual reproduction, breastfeeding and breast cancer are clean.

Normalisation: lower case; punctuation splits words (so "blow-job" matches the phrase
"blow job", and "woman's" reads "woman"); leetspeak inside words ("p0rn", "s3x",
"sh!t", "$lut"), censoring asterisks ("f*ck"), stretched letters ("fuuuck") and
spaced-out letters ("p o r n") are resolved to lexicon words. Inflected forms are
listed explicitly with suffix shorthand: ``fuck+s+ed+ing`` is fuck, fucks, fucked,
fucking; ``|`` separates alternatives of one slot.

Speed: all captions are lower-cased and split in bulk, and a caption is looked at in
detail only when one of its words can start a rule (a set intersection) or it holds
leetspeak-like characters; everything else scores 0 without Python work per rule.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CATEGORIES = ("sexual", "profanity", "hate", "violence_graphic")

# Word groups referenced as @name inside rules.
GROUPS = {
    "animal": "animal+s dog+s puppy puppies cat+s kitten+s bird+s frog+s toad+s insect+s fly flies beetle+s "
    "butterfly butterflies dragonfly dragonflies snail+s slug+s turtle+s tortoise+s lion+s elephant+s "
    "horse+s pony ponies cow+s bull+s goat+s sheep pig+s monkey+s ape+s giraffe+s zebra+s deer rabbit+s "
    "bunny bunnies mouse mice rat+s duck+s swan+s pigeon+s chicken+s hen+s rooster+s fish+es whale+s "
    "dolphin+s seal+s snake+s lizard+s crab+s spider+s bee+s ant+s moth+s mantis mantises wildlife "
    "zoo farm livestock panda+s bear+s tiger+s koala+s kangaroo+s camel+s donkey+s ladybug+s ladybird+s",
    "food": "chicken+s turkey+s duck+s quail goose grilled grill+s+ing fried frying fry roast+ed+ing boneless skinless "
    "meat+s plate+s cooked cooking cook+s recipe+s fillet+s filet+s pan+s oven baked baking bbq barbecue "
    "barbecued food+s dinner lunch marinated marinade sliced slice+s sandwich+es salad+s kitchen "
    "butcher+s rice vegetables potatoes sauce served restaurant menu seasoned smoked stuffed breaded tray "
    "skillet rotisserie poultry deli",
    "bird": "rooster+s hen+s chicken+s crow+s+ed+ing cockerel+s farm+s barnyard bird+s poultry fowl feather+s "
    "cluck+s+ed+ing coop+s doodle cockadoodledoo peck+s+ed+ing flock+s chick+s crowing yard fighting "
    "cockfight+s cockfighting blue great coal marsh willow crested feeder+s chickadee+s plumage "
    "footed masked red brown nazca seabird+s nest+s tree+s branch+es perch+ed+es+ing wings beak",
    "person": "woman women girl+s lady ladies her she man men guy+s boy+s him he his couple+s model+s actress+es "
    "actor+s person people teen+s teenager+s wife husband girlfriend boyfriend stripper+s",
    "human_target": "man men woman women him her person people someone victim+s child children boy+s girl+s "
    "neighbor+s neighbour+s guard+s soldier+s police officer+s",
    "infant": "baby babies infant+s newborn+s toddler+s diaper+s nappy nappies",
    "baby": "baby babies infant+s newborn+s toddler+s child children kid+s doll+s son daughter diaper+s bath",
    "group": "jew+s jewish muslim+s black+s gay+s homosexual+s immigrant+s mexican+s arab+s refugee+s negro+es "
    "asian+s african+s lesbian+s transgender+s migrant+s latino+s hispanic+s",
    "explicit_act": "sex sexual sexually fuck+s+ed+ing suck+s+ed+ing sucking lick+s+ed+ing stroke+s+d stroking "
    "jerk+s+ed+ing naked nude topless porn porno orgasm+s moan+s+ed+ing masturbate+s+d "
    "masturbating masturbation penis vagina pussy cock+s dick+s cum cumming erect erection+s "
    "horny bed naughty kinky aroused hard thrusting thrust+s ride+s riding rides",
    "gore": "covered soaked pool+s splattered spattered splatter+s dripping gushing spurting smeared streaming "
    "bloodied gore gory corpse+s wound+s wounded stabbed severed mutilated dead victim+s massacre "
    "murdered killed carnage slashed torn ripped",
}

# Each rule: (category, pattern, weight, options). See the module docstring.
RULES: list[tuple] = []


def R(
    category: str,
    pattern: str,
    weight: float,
    *,
    boost: str = "",
    boost_weight: float = 0.95,
    unless: str = "",
    next: str = "",
    prev: str = "",
) -> None:  # noqa: A002 - reads like the docs
    RULES.append((category, pattern, weight, boost, boost_weight, unless, next, prev))


S, P, H, V = CATEGORIES

# ---- sexual: pornography and explicit media ---------------------------------
R(S, "porn|porno|pornography|pornographic|pornographically|porns|pr0n|pron|pornhub|xvideos|xhamster|pornstar+s", 0.97)
R(S, "xxx", 0.9, next="large|xl|size")
R(S, "hentai|rule34", 0.95)
R(S, "nsfw", 0.8)
R(S, "x rated, xrated", 0.9)
R(S, "adult film+s|movie+s|video+s|content|entertainment|website+s|site+s|magazine+s|store+s|star+s|toy+s", 0.75)
R(S, "sex tape+s|scene+s|video+s|film+s|movie+s|show+s|toy+s|doll+s|shop+s|worker+s|act+s|position+s|slave+s", 0.97)
R(
    S,
    "explicit",
    0.0,
    boost="sex sexual nude nudity naked porn content scene+s image+s photo+s video+s picture+s material+s",
    boost_weight=0.85,
    unless="lyrics|instructions|label",
)
R(S, "erotic|erotica|erotically|eroticism|erotic", 0.85)
R(S, "onlyfans|camgirl+s|camboy+s|sexting|sext+s|dickpic+s|nudes|upskirt+s|downblouse", 0.9)
R(S, "dick pic+s|picture+s|photo+s", 0.95)
R(S, "peep show+s", 0.7)
R(
    S,
    "playboy|hustler|penthouse",
    0.3,
    boost="magazine+s|centerfold+s|bunny|bunnies|model+s|nude|naked",
    boost_weight=0.7,
    unless="suite|apartment+s|view+s|floor|balcony|hotel",
)
R(S, "centerfold+s|centrefold+s|playmate+s", 0.5)
R(S, "milf+s|dilf+s|cuckold+s|cuckolding|hotwife", 0.9)
R(
    S,
    "stripper+s|striptease+s|stripteaser",
    0.85,
    unless="wire+s|paint|varnish|insulation|tool+s|clip+s|floor|wallpaper|cable+s",
)
R(S, "strip tease|club+s|joint+s|show+s|poker", 0.85)
R(S, "lap dance+s|dancer+s|dancing|dances", 0.85)
R(S, "lapdance+s", 0.85)
R(S, "pole dancer+s|dancing|dance", 0.35, boost="stripper+s|strip|club|naked|topless|nude|lingerie|seductively")
R(
    S,
    "prostitute+s|prostitution|prostituting|brothel+s|whorehouse+s|bordello+s|hooker+s",
    0.8,
    unless="rugby|scrum+s|team|player+s|tackle+s|match|league",
)
R(S, "call girl+s", 0.75)
R(S, "escort service+s|agency|agencies", 0.7)
R(S, "red light district+s", 0.5)

# ---- sexual: nudity -----------------------------------------------------------
R(
    S,
    "naked|nakedness|stark-naked|buck-naked",
    0.92,
    next="mole|eye|eyes|flame+s|wire+s|bulb+s|truth|ambition|aggression|branch+es|tree+s|light|lightbulb+s|"
    "eyed|chef|gun+s|city|lunch|bike|blade|wall+s|concrete|brick+s|floor+s|ceiling+s|steel|metal|wood|plaster",
    unless="mole|molerat|@infant",
)
R(
    S,
    "nude|nudes|nudity|nudist+s|nudism|naturist+s|naturism, in the buff, birthday suit",
    0.92,
    next="color+s|colour+s|colored|coloured|tone+s|toned|lipstick+s|lip|lips|heel+s|shoe+s|pump+s|shade+s|"
    "palette+s|nail+s|polish|stocking+s|pantyhose|tights|dress+es|gown+s|bra+s|sandal+s|makeup|mesh|"
    "leotard+s|beige|pink|glaze|paint|wall+s|fabric|leather|suede|slip|wedge+s|top|boots|flats|bag",
    prev="matte|soft|warm",
)
R(S, "in the nude", 0.92)
R(
    S,
    "topless|bottomless|unclothed|bare-breasted|barebreasted|bare-chested-woman",
    0.88,
    next="car+s|convertible+s|bus|buses|jeep+s|boat+s|vehicle+s|roadster+s|tour+s|pit+s|mimosa+s|brunch|cup+s|"
    "drink+s|coffee|fries|bowl+s|refill+s|pool|pools",
    unless="bus|buses|convertible|jeep|car|mimosas|brunch|refills|sightseeing",
)
R(S, "bare breasted|breast+s|bottom|bottomed|butt+s|ass|genitals|vagina|penis|crotch|buttocks|nipple+s", 0.92)
R(
    S,
    "no clothes on, without clothes, without any clothes, without clothing, wearing nothing, "
    "wearing no clothes, not wearing any clothes, with no clothes",
    0.85,
    unless="@baby|@animal|mannequin+s|doll+s|statue+s",
)
R(S, "skinny dipping|dip+s", 0.8)
R(S, "skinny-dipping|skinnydipping", 0.8)
R(
    S,
    "streaker+s|streaking",
    0.6,
    unless="light+s|sky|skies|cloud+s|comet+s|meteor+s|paint|tears|hair|sun|sunlight|rain|water|window|color+s|"
    "colour+s|star+s|jet+s|plane+s|across|rays|highlights",
)
R(
    S,
    "flash+es+ed+ing|flasher+s",
    0.0,
    boost="breasts|boobs|tits|genitals|penis|vagina|nipples|crotch",
    boost_weight=0.9,
)
R(S, "undress+es+ed+ing|disrobe+s+d|disrobing", 0.6, unless="@baby|mannequin+s|@animal")
R(
    S,
    "strip+s+ped+ping|strips",
    0.0,
    boost="naked|nude|clothes|clothing|underwear|lingerie|bra|panties|seductively|sexily|striptease|stripper",
    boost_weight=0.75,
    unless="@baby|paint|wallpaper|bed|sheets|mall|wood|varnish|wire+s|bark|@animal",
)
R(
    S,
    "expose+s+d|exposing",
    0.0,
    boost="breast+s|boobs|tits|genitals|penis|vagina|nipple+s|crotch|himself|herself|buttocks|naked",
    boost_weight=0.85,
)
R(S, "indecent exposure", 0.8)
R(S, "full frontal", 0.85)
R(
    S,
    "genital+s|genitalia|penis|penises|vagina+s|vaginal|vaginally|vulva+s|clitoris|clit+s|labia|scrotum+s|"
    "foreskin+s|testicle+s|ballsack|nutsack",
    0.85,
    unless="flower|flowers|plant|orchid+s|botany|diagram",
)
R(S, "anus|anal|anally", 0.6, next="fin+s|gland+s|retentive|pore+s|sac+s", unless="fish|fin|fins|gland|glands|vet")
R(S, "pubic|pubes", 0.75, next="bone+s|symphysis|louse|lice")
R(S, "cameltoe+s", 0.75)
R(S, "camel toe+s", 0.75)
R(
    S,
    "erection+s",
    0.7,
    next="of",
    unless="building+s|tower+s|tent+s|scaffold+s|scaffolding|crane+s|monument+s|"
    "statue+s|wall+s|bridge+s|fence+s|structure+s|construction|workers|steel|"
    "pole+s|mast+s|frame+s|stage|church",
)
R(S, "erect", 0.0, boost="penis|cock|dick|nipples|member|shaft", boost_weight=0.9)
R(S, "boner+s|hardon+s", 0.75)
R(
    S,
    "phallic|phallus|phalluses|dildo+s|buttplug+s|fleshlight+s|strapon+s",
    0.8,
    unless="rock+s|mushroom+s|cactus|cacti|fungus|fungi|stone+s|tower+s|formation+s|building|sculpture|monument|totem",
)
R(S, "butt plug+s", 0.9)
R(S, "vibrator+s", 0.55, unless="phone+s|cell|alarm+s|motor+s|pager+s|concrete|engine|massage|massager")
R(S, "cock ring+s", 0.9)
R(
    S,
    "bondage|bdsm|dominatrix|dominatrixes|fetish+es|fetishist+s|kink|kinky",
    0.6,
    boost="sex|naked|nude|latex|leather|whip+s|handcuffed|tied|porn|slave|foot",
    boost_weight=0.9,
)
R(
    S,
    "sex",
    0.85,
    next="education|ed|educator+s|ratio+s|chromosome+s|determination|difference+s|of|cell+s|hormone+s|organs|"
    "offender+s|pistols|trafficking|segregated|segregation|discrimination|specific|identification|"
    "linked|selection|change+s|reassignment|based|role+s|characteristics|ratio",
    prev="same|opposite|both|either|fair|gentle|weaker|stronger|his|her|their|its|the|gender|determine|determining|"
    "determined|identify|identifying|check|checking",
    unless="class|classroom|classes|lesson+s|teacher+s|textbook+s|school|curriculum|biology|hatchery|hatchlings|"
    "chicks|puppies|kittens|turtles|eggs|incubation|ultrasound|scan|fetus|baby|gender|age|bmi|mass|index|"
    "variable+s|demographic+s|census|population|participant+s|patient+s|survey|statistics|data",
)
R(S, "sexes", 0.0)
R(
    S,
    "sexual|sexually|sexy|sexiest|sexier|sexiness|sexily",
    0.55,
    next="reproduction|reproduce|reproducing|reproductive|orientation+s|health|dimorphism|dimorphic|selection|"
    "education|identity|identities|maturity|mature|development|wellness|ethics|harassment|transmitted|"
    "transmissible|diversity|minority|minorities|abuse|assault|violence|misconduct|consent|rights|"
    "revolution|politics|behavior|behaviour|stage|cycle|species|phase",
    boost="intercourse|act+s|activity|activities|position+s|encounter+s|content|image+s|explicit|intimacy|pleasure|"
    "naked|nude|lingerie|pose+s|posing|undress+ed+ing|bed|moan+s+ed+ing|seductive|seductively|@explicit_act",
    boost_weight=0.9,
    unless="plant+s|flower+s|fungi|fungus|bacteria|algae|asexual|poster|lecture|class|clinic|research|textbook|"
    "diagram|lesson+s|awareness|prevention|campaign|pamphlet|brochure|conference|survivor+s|seminar|"
    "workshop|therapist|counseling|counselling|@animal",
)
R(S, "sexually explicit", 0.97)
R(S, "intercourse", 0.85, prev="social|verbal|cultural|commercial|polite|human|daily|friendly")
R(S, "make|makes|made|making love", 0.88, next="not|to|songs|song|letters|poem+s")
R(S, "lovemaking|love-making", 0.88)
R(S, "having|had|has|have sex", 0.97)
R(S, "sleep+s|sleeping|slept with", 0.0, boost="naked|nude|sex|sexually", boost_weight=0.85)
R(S, "orgasm+s|orgasmic|orgasming|orgasmed|climaxing", 0.9)
R(
    S,
    "masturbate+s+d|masturbating|masturbation|masturbator+s|wank+s+ed+ing|wanking, "
    "jerking|jerks|jerked|jerk|jacking|jack off",
    0.95,
)
R(
    S,
    "touching|touches|touched|touch|fondling|fondles|fondled|fondle|groping|gropes|groped|grope|rubbing|rubs|"
    "stroking|strokes|sucking|sucks|sucked|suck|licking|licks|licked|lick|kissing|kisses",
    0.0,
    boost="breasts|boobs|tits|nipples|penis|vagina|genitals|crotch|pussy|cock|dick|clit|clitoris|balls|testicles|"
    "herself|himself|groin",
    boost_weight=0.92,
    unless="@baby|@animal|lollipop+s|popsicle+s|ice|straw+s|thumb|finger+s|paw+s|wound+s",
)
R(
    S,
    "grope+s+d|groping|fondle+s+d|fondling|molest+s+ed+ing|molestation|molester+s",
    0.7,
    unless="dark|darkness|switch|flashlight|keys|bag|pocket+s|@animal|wall",
)
R(
    S,
    "blowjob+s|blow-job+s|handjob+s|rimjob+s|footjob+s|titjob+s|titfuck+s+ing|cumshot+s|creampie+s|bukkake|"
    "gangbang+s+ed+ing|deepthroat+s+ed+ing|fellatio|cunnilingus|rimming|fisting|analingus|anilingus|"
    "sodomy|sodomize+s+d|sodomizing|sodomise+s+d|sodomising|facesitting|pegging|"
    "squirting",
    0.95,
    unless="water|gun+s|hose+s|fountain+s|ketchup|mustard|lemon|bottle",
)
R(S, "blow job+s", 0.95)
R(S, "hand job+s", 0.85, prev="a|the|her|his|quick|gave|giving|gives")
R(S, "oral sex", 0.97)
R(S, "gang bang+s", 0.95)
R(S, "doggy|doggie style, doggystyle", 0.85)
R(S, "missionary|cowgirl position", 0.85)
R(S, "reverse cowgirl", 0.9)
R(S, "orgy|orgies|threesome+s|foursome+s, group sex", 0.8, unless="golf|golfer+s|golfing|tee|course|putting|fairway")
R(
    S,
    "cum|cums|cumming|cummed|jizz+ed+ing|semen|spunk",
    0.8,
    next="laude",
    prev="summa|magna|kitchen|dining|bedroom|lounge|office|study|living|room",
    unless="room|kitchen|bedroom|laude|lounge|office|study|diploma|graduation|cafe|bar|restaurant|hall",
)
R(S, "ejaculate+s+d|ejaculating|ejaculation+s|precum", 0.85)
R(
    S,
    "sperm",
    0.2,
    boost="face|covered|swallow+s+ing|mouth|cum",
    boost_weight=0.8,
    unless="whale+s|bank+s|cell+s|count|donor+s|donation|microscope|fertility|egg+s|oil",
)
R(
    S,
    "penetrate+s+d|penetrating|penetration",
    0.0,
    boost="vagina|anal|anus|dildo|cock|penis|dick|sex|pussy|her|woman|behind",
    boost_weight=0.9,
    unless="armor|armour|test|testing|market|bullet|light|sunlight|roots|water|wall|defense",
)
R(
    S,
    "hump+s+ed+ing",
    0.3,
    boost="@person",
    boost_weight=0.85,
    unless="@animal|camel+s|whale+s|speed|road|bridge|hill|back",
)
R(S, "copulate+s|copulating|copulation|coitus|coital|fornicate+s|fornicating|fornication", 0.8, unless="@animal")
R(
    S,
    "breast+s",
    0.45,
    boost="bare|naked|nude|topless|exposed|exposing|big|huge|large|busty|massive|perky|saggy|@person|cleavage|"
    "bra|lingerie|shirtless|squeeze+s+d|squeezing|grab+s|grabbing|grabbed|sucking|licking|fondling|groping|"
    "touching|showing|shows|flashing",
    boost_weight=0.9,
    next="stroke+s|pocket+s|cancer|milk|pump+s|pumping|feeding|feed|plate+s|collar|bone|meat|fillet+s|tissue|"
    "exam+s|screening|implant+s|reconstruction",
    unless="@food|cancer|awareness|feeding|breastfeeding|breastfed|nursing|nurse|nurses|pump|exam|mammogram|"
    "robin+s|@bird|armor|armour|plate|swim|swimmer+s|swimming|stroke|pink|ribbon+s|charity|walk|"
    "@baby|clinic|doctor|hospital|statue+s|sculpture+s|painting+s|museum|marble",
)
R(
    S,
    "knockers|jugs|hooters|melons|schlong+s|dong+s|nudie+s|nakey",
    0.2,
    boost="@person|big|huge|nice|naked|nude|topless|bare|bouncing|showing|flashing|porn|sexy",
    boost_weight=0.8,
    unless="water|milk|jug|pitcher+s|door+s|owl+s|restaurant|wings|fruit+s|market|@food|juice|bell+s|ding|"
    "wine|beer|pottery|ceramic|shelf|table|kitchen",
)
R(
    S,
    "fap+s|fapping|fapped|cybersex|camsex|sexcam+s|sextape+s|sexshop+s|softcore|smut|smutty|"
    "exhibitionist+s|exhibitionism|nipslip+s|boobjob+s|titfuck+s|cumslut+s|peepshow+s|swinger+s|kamasutra",
    0.85,
    unless="trumpet|jazz|dance|swing|golf|baseball|batter",
)
R(
    S,
    "nip slip+s, kama sutra, ball gag+s, sex swing+s, crotch shot+s, money shot+s, wardrobe malfunction+s",
    0.75,
    unless="movie|film|scene|climax|poker|casino|trailer",
)
R(
    S,
    "voyeur+s|voyeurism|voyeuristic|carnal|indecent|indecently, peeping tom+s, intimate parts",
    0.45,
    boost="naked|nude|undress+ing+ed|shower|bedroom|window|photos|video|sex|topless|exposure|exposing",
    boost_weight=0.8,
    unless="@animal|photography|street|exhibition|museum|gallery|knowledge",
)
R(
    S,
    "spread+s|spreading her|his|their legs|thighs|buttocks|cheeks|pussy|vagina|labia",
    0.55,
    unless="yoga|stretch+es+ing|stretching|gymnast+s|gymnastics|split+s|ballet|dance|dancer+s|class|@animal|"
    "wings|butter|jam|map|blanket|towel|fingers",
)
R(
    S,
    "boob+s|boobies|boobie|booby|titties|titty|tits",
    0.85,
    next="trap+s|prize+s|tube|bird+s|of|full",
    prev="blue|great|coal|marsh|willow|crested|footed|masked|red|brown|nazca|long-tailed|tufted|bearded|penduline",
    unless="@bird|milk|water|jug|pitcher|restaurant|owl+s|wing+s|tea|wine|lemonade|table|pottery|ceramic|"
    "chicken|hot|sauce|wings|juice",
)
R(
    S,
    "tit",
    0.3,
    next="for|tat|bird+s|mouse|mice",
    prev="blue|great|coal|marsh|willow|crested|long-tailed|tufted",
    unless="@bird",
)
R(
    S,
    "nipple+s",
    0.45,
    boost="bare|exposed|naked|nude|topless|pierced|sucking|licking|pinching|pinched|erect|hard|showing|visible|"
    "breast+s|boobs|tits|@person|shirtless|lingerie|flashing|clamp+s|tweaking|twisting",
    boost_weight=0.9,
    unless="bottle+s|@baby|pacifier+s|feeding|formula|rubber|silicone|teat+s|grease|fitting+s|pipe+s|plumbing|"
    "valve+s|bike|bicycle|spoke+s|wheel+s|calf|calves|cow+s|goat+s|lamb+s|piglet+s|sow|cake|frosting|"
    "hose|tube|brass|mechanic|@animal|dummy|dummies|sipper|sippy",
)
R(S, "cleavage", 0.35, unless="mineral+s|crystal+s|rock+s|stone+s|slate|gem+s|quartz|calcite|cell")
R(S, "busty|voluptuous|buxom", 0.6)
R(
    S,
    "lingerie|negligee+s|panties|g-string+s|gstring+s|thong+s",
    0.35,
    unless="sandal+s|flip|flops|beach|store|shop|mannequin+s|display|shopping|catalog",
)
R(
    S,
    "seductive|seductively|seduce+s+d|seducing|seduction|sensual|sensually|sultry|raunchy|lewd|lewdly|"
    "obscene|obscenely|lust|lustful|lusting|horny|aroused|arousal|naughty|provocative|provocatively|sexting",
    0.35,
    unless="toad+s|lizard+s|beetle+s|devil+s|coral|@baby|sauce|dessert|chocolate|cake",
)
R(
    S,
    "moan+s+ed+ing|groan+s+ed+ing|panted|panting",
    0.2,
    boost="bed|naked|sex|orgasm|pleasure|passionately|sexually|nude|ecstasy",
    boost_weight=0.85,
    unless="@animal|engine|wind|door|machine|pain|crying",
)
R(
    S,
    "cock+s",
    0.45,
    boost="suck+s+ed+ing|sucking|hard|big|huge|erect|stroke+s+d|stroking|ride+s|riding|jerk+s+ed+ing|jerking|throbbing|"
    "pussy|naked|nude|mouth|lick+s+ed+ing|licking|porn|sex|horny|her|she|girl|woman|slut",
    boost_weight=0.95,
    unless="@bird|@animal|stopcock|ballcock|tap|valve|weapon+s|fire+s|firing|firearm+s|shotgun+s|gun+s|pistol+s|rifle+s|hammer+s|head+s|hat+s|ear+s|eyebrow+s|"
    "trigger|weathercock|weathervane|vane|roof|crowing|crows|crowed|sparrow|robin|pheasant|grouse|"
    "woodcock|moorhen|duck|game",
)
R(S, "cocksucker+s|cocksucking|motherfucker+s|cunt+s|twat+s", 0.6)
R(
    S,
    "dick+s",
    0.4,
    boost="suck+s+ed+ing|sucking|big|huge|hard|erect|pic+s|stroke+s+d|stroking|jerk+s+ed+ing|jerking|lick+s+ed+ing|"
    "licking|naked|nude|penis|cock|pussy|porn|sex|horny|mouth",
    boost_weight=0.95,
    next="van|tracy|cheney|clark|grayson|smith|wolf|turpin|whittington|francis|york",
    prev="moby|uncle|philip|mr|named|called|van|private",
    unless="moby|whale|book|novel|detective|cartoon|comic",
)
R(
    S,
    "pussy|pussies",
    0.7,
    next="willow+s|cat+s|foot|footing|footed",
    boost="@explicit_act|wet|tight|shaved|hairy|eat+s+ing|eating|finger+s+ed",
    unless="willow+s|cat+s|kitten+s|kitty|meow+s+ing|meowing|purr+s+ing|purring|catkin+s|@animal",
)
R(
    S,
    "finger+s+ed+ing",
    0.0,
    boost="pussy|vagina|clit|clitoris|herself|anus|ass|asshole",
    boost_weight=0.92,
    unless="guitar+s|piano|chord+s|bass|violin+s|flute+s|instrument+s|fingerboard|fretboard|key+s|trumpet|cello",
)
R(
    S,
    "rape+s+d|raping|rapist+s|gangrape+s+d",
    0.85,
    prev="oilseed|seed",
    unless="oilseed|field+s|flower+s|crop+s|seed+s|yellow|canola|plant+s|farmer+s|harvest|blossom+s|bloom+s|"
    "meadow|honey|bees|tractor|landscape",
)
R(
    S,
    "incest|incestuous|bestiality|zoophilia|zoophile+s|necrophilia|paedophile+s|pedophile+s|pedophilia|"
    "paedophilia|pedo+s|paedo+s|lolicon|shotacon|underage|csam|jailbait",
    0.85,
    unless="drinking|drink+s|alcohol|beer|smoking|cigarette+s|gambling|driving|driver+s|awareness|prevention|"
    "campaign|charity|hotline",
)
R(
    S,
    "whore+s|slut+s|slutty|skank+s|harlot+s|tramp+s|hoe+s|thot+s",
    0.5,
    unless="garden+s|gardening|gardener+s|soil|weed+s|weeding|dirt|rake+s|shovel+s|tool+s|farm|farmer+s|"
    "hoes|tramp+s|stamp+s|lady and|trampoline+s|steamer+s|disney|cartoon|film|dog+s|vagrant",
    boost="@explicit_act|dirty",
)

# ---- profanity / insult -----------------------------------------------------
R(
    P,
    "fuck+s+ed+ing+er+ers|fuckin|fucken|fucktard+s|fuckface|fuckhead+s|fuckwit+s|fuckboy+s|fucky|"
    "motherfucker+s|motherfucking|motherfuckin|mofo+s|clusterfuck|fck|fcking|fuk|fuking|fukin|fukking|fuq|"
    "phuck|phucking|effing|eff",
    0.95,
    unless="",
    next="",
)
R(
    S,
    "fuck+s+ed+ing|fuckin",
    0.0,
    boost="her|him|them|each|sex|naked|nude|pussy|cock|dick|bed|hard|anal|girl|woman|couple|porn|horny|people|video|"
    "ass|tits|boobs|slut|whore|doggy",
    boost_weight=0.85,
)
R(
    P,
    "shit+s+ty|shite|shitting|shitter|shithead+s|shitload+s|shithole+s|shitshow|bullshit|horseshit|dipshit+s|"
    "batshit|apeshit|chickenshit",
    0.9,
)
R(
    P,
    "cunt+s|cunty|twat+s|cocksucker+s|cocksucking|asshole+s|arsehole+s|asswipe+s|assface|dickhead+s|"
    "dickface|douchebag+s|douchebags|wanker+s|tosser+s|bellend+s|knobhead+s|prick+s|bollocks|pisshead+s|"
    "jackass+es|dumbass+es|smartass+es|fatass+es|lardass|bitch+es|bitchy|bitching|bitchin|"
    "bastard+s|slut+s|whore+s|skank+s|douche+s|fag|arse|motherfucker+s",
    0.85,
    unless="dog+s|puppy|puppies|litter+s|breed+er+ers+ing|whelp+s+ing|kennel+s|greyhound+s|file+s|tool+s|"
    "cactus|needle+s|pin+s|thorn+s|finger|blood|test|@animal|cigarette+s|smoke|smoking|donkey+s|mule+s|"
    "burro+s|bray+s+ing+ed|braying|rose+s|bush+es|sword",
)
R(
    P,
    "ass|asses",
    0.55,
    prev="wild|an|the|jack|domestic|white|kick|bad|smart",
    unless="donkey+s|bray+s+ed+ing|braying|burro+s|mule+s|wild|@animal|foal+s|jenny|kiang|onager+s|pack",
)
R(P, "piss+es+ed+ing|pissing|pisses|pissed", 0.6, unless="")
R(P, "piss off", 0.8)
R(P, "crap|crappy|crapping|craps", 0.45, next="game+s|table+s|dice")
R(P, "damn|damned|dammit|damnit|goddamn|goddamned|goddam, god damn", 0.45)
R(P, "goddamn|goddamned|goddamnit|goddammit", 0.6)
R(
    P,
    "idiot+s|moron+s|imbecile+s|cretin+s|retard+s|retarded|dumbfuck+s|numbnuts|dimwit+s|halfwit+s|loser+s|"
    "stupid|dumb|scumbag+s|scum",
    0.0,
    boost="you|your|ur|youre|fucking|fuckin|shut|ugly|fat|worthless|bloody",
    boost_weight=0.8,
    unless="@animal|farm|barn|pen|pasture|piglet+s|sow+s|bacon|pork|ham|waiter|guinea|",
)
R(
    P,
    "idiot+s|moron+s|imbecile+s|retard+s|retarded|dumbfuck+s|numbnuts|scumbag+s",
    0.45,
    unless="box|proof|idiotproof|foolproof",
)
R(P, "stfu|gtfo|wtf|omfg|lmfao|fml", 0.6, prev="", next="", unless="")
R(P, "shut the fuck up, shut up", 0.4)
R(P, "son of a bitch", 0.9)
R(P, "screw you, up yours, eat shit, kiss my ass, go to hell, suck my, blow me, bite me", 0.8)
R(P, "bugger+s+ed|bollocks, bloody hell, sod off", 0.55)

# ---- hate ---------------------------------------------------------------------
R(
    H,
    "nigger+s|nigga+s|niggaz|nigguh|niggah|nigg3r|negroid|kike+s|kyke+s|wetback+s|raghead+s|towelhead+s|"
    "sandnigger+s|gook+s|beaner+s|zipperhead+s|chinaman|shemale+s|darkie+s|darky|golliwog+s|sambo+s|"
    "untermensch|halfbreed+s|half-breed+s|mongoloid+s|pikey+s|gyppo+s|lesbo+s|wop+s|dago+s|yid+s|paki+s",
    0.9,
)
R(H, "porch monkey+s, jungle bunny|bunnies, camel jockey+s", 0.9)
SLUR_CONTEXT = "@group|fucking|fuckin|dirty|filthy|stupid|go|back|hate|kill|die|you|those|these|bunch|damn|lazy|ugly"
R(H, "spic+s|spick+s", 0.8, next="and|span|n")
R(H, "chink+s", 0.4, boost=SLUR_CONTEXT + "|chinese|asian", boost_weight=0.9)
R(
    H,
    "faggot+s|faggy|fag+s",
    0.8,
    unless="@food|peas|gravy|meatball+s|sticks|bundle+s|firewood|wood|twigs|cigarette+s|smoke|smoking|lit|lighter|"
    "ash|ashtray|pack",
)
R(
    H,
    "dyke+s",
    0.5,
    boost=SLUR_CONTEXT + "|lesbian+s",
    boost_weight=0.9,
    unless="water|river|canal|sea|flood|floods|levee+s|dutch|polder+s|dam+s|dike+s|field+s|marsh|ditch|sheep|"
    "bank|embankment|landscape|windmill+s|wall",
)
R(
    H,
    "coon+s",
    0.4,
    boost=SLUR_CONTEXT,
    boost_weight=0.9,
    unless="raccoon+s|hound+s|hunting|hunter+s|maine|cat+s|kitten+s|tree|dog+s|skin|cap|@animal",
)
R(H, "tranny|trannies", 0.75, unless="fluid|transmission+s|gearbox|engine|car|truck|mechanic|auto|motor|van")
R(
    H,
    "jap+s|kraut+s|gringo+s|honky|honkies|redskin+s|coolie+s|abo+s",
    0.5,
    next="tonk|tonks|potato+es|bean+s",
    boost=SLUR_CONTEXT,
    boost_weight=0.9,
    unless="potato+es|@food|football|team|stadium|helmet+s|jersey+s",
)
R(
    H,
    "homo+s",
    0.5,
    next="sapiens|erectus|habilis|neanderthalensis|floresiensis|naledi|genus",
    boost=SLUR_CONTEXT,
    boost_weight=0.9,
    unless="sapiens|erectus|evolution|skull|fossil+s|museum|genus|species",
)
R(
    H,
    "kaffir+s|kafir+s",
    0.8,
    next="lime+s|lily|lilies|leaf|leaves|corn|plum+s|beer",
    unless="lime+s|@food|leaves|leaf|recipe|curry|soup|plant|tree|garden",
)
R(H, "retard+s|retarded", 0.45, unless="flame|fire|timing|ignition|retardant")
R(
    H,
    "sieg heil, heil hitler, white power, white pride, gas the jews, race traitor+s, inferior race+s, "
    "master race, ethnic cleansing, white genocide, nazi|hitler salute+s, go back to your country, "
    "go back to africa, ku klux klan, kkk, white supremacy|supremacist+s, neo-nazi+s|neonazi+s|heil",
    0.8,
)
R(H, "mud people|race, subhuman+s", 0.8)
R(
    H,
    "subhuman+s|untermenschen|vermin|parasites|cockroaches|filthy|dirty|disgusting|animals|savages|"
    "apes|monkeys|rats|inferior|scum|plague|evil",
    0.0,
    boost="@group",
    boost_weight=0.8,
    unless="zoo|farm|kitchen|floor|clothes|laundry|dishes|fur|mud|muddy|cage|jungle|forest|tree",
)
R(
    H,
    "@group",
    0.0,
    boost="subhuman|vermin|parasites|exterminate+d|extermination|gas|gassed|deport|deported|kill|lynch|"
    "inferior|scum|savages|die|burn|hate|hated|filthy",
    boost_weight=0.8,
    unless="memorial|museum|remembrance|history|historical|holocaust|refugee|camp|documentary|history",
)
R(
    H,
    "swastika+s",
    0.45,
    boost="nazi|graffiti|spray-painted|painted|flag+s|tattoo+s|hate",
    boost_weight=0.75,
    unless="hindu|temple+s|buddhist|buddha|jain|india|indian|ancient|mosaic|tile+s|tibet|tibetan|nepal",
)
R(
    H,
    "nazi+s",
    0.3,
    boost="flag+s|salute+s|rally|rallies|march+es|heil|chanting|symbol+s",
    boost_weight=0.8,
    unless="documentary|museum|history|historical|wwii|ww2|war|soldier+s|uniform+s|film|movie|grammar|soup",
)

# ---- violence_graphic -----------------------------------------------------------
R(
    V,
    "gore|gory|gruesome|grisly|grotesquely|mutilate+s+d|mutilating|mutilation+s|dismember+s+ed+ing|"
    "dismemberment+s|decapitate+s+d|decapitating|decapitation+s|behead+s+ed+ing|beheading+s|"
    "disembowel+s+ed+led+ing+ling|disembowelment|eviscerate+s+d|eviscerating|evisceration|"
    "bloodbath+s|bloodshed|carnage|snuff",
    0.85,
    prev="al|vice|president|mr|mrs|senator",
    next="tex|texs|vidal|the",
    unless="tex|jacket|raincoat|al|vice|president|speech|election|politician|goretex|statue+s|doll+s|toy+s|flower+s|"
    "bull|horn+s|fish|shrimp|prawn+s|crab+s|lobster+s|chicken+s|film|movie|poster|videogame|game",
)
R(V, "gored", 0.5)
R(
    V,
    "corpse+s|cadaver+s, dead|decomposing|decomposed|rotting|mangled|lifeless body|bodies, body bag+s",
    0.6,
    boost="@gore|blood|bloody|bleeding|rotting|decomposing|mutilated|bloated|maggots",
    boost_weight=0.85,
    unless="flower|lily|bride|pose|yoga|reviver|halloween|costume|zombie+s|makeup|movie|film|party|fake|decoration+s|"
    "prop+s|savasana|leaves|tree|plant|insect|bug|fly|beetle|bird|fish|squirrel|rat|mouse",
)
R(
    V,
    "blood|bloody|bloodied|bloodstained|blood-stained|blood-soaked|bloodsoaked|bloodsplatter+s",
    0.0,
    boost="@gore|bleeding|brutal|brutally|beaten|stabbing|stabbed|knife|axe|chainsaw|corpse|mutilated|decapitated|"
    "severed|entrails|intestines|guts|brains|skull|eyeball+s|limbs|wounds|victim",
    boost_weight=0.75,
    unless="orange+s|pressure|drive+s|donation+s|donor+s|donate+s+d|donating|test+s|testing|sample+s|bank+s|type+s|"
    "moon|hound+s|bloodhound+s|vessel+s|sugar|cell+s|transfusion+s|fake|costume+s|halloween|ketchup|paint|"
    "makeup|zombie+s|mary|marys|cocktail+s|vampire|sausage|pudding|meat|steak+s|butcher|lab|laboratory|"
    "nurse|doctor|hospital|clinic|mosquito+es|tick+s|leech+es|diamond+s|brother+s|line+s|lines|"
    "thirsty|sport|game|rare|beef|rose+s|red|wine|film|movie|gory",
)
R(
    V,
    "severed, hacked|chopped|cut|ripped|torn|blown off",
    0.0,
    boost="head+s|limb+s|arm+s|leg+s|finger+s|hand+s|body|bodies|ear+s|tongue|genitals|penis|foot|feet|toe+s",
    boost_weight=0.85,
    unless="rope+s|cable+s|tie+s|relation+s|connection+s|power|line+s|branch+es|tree+s|"
    "hair|sleeve+s|mannequin+s|doll+s|statue+s|@food|crust|fabric|tag+s|corner+s",
)
R(
    V,
    "entrails|intestines|innards|viscera|guts",
    0.0,
    boost="spill+s+ed+ing|spilling|hanging|exposed|ripped|torn|human|body|corpse|victim|blood",
    boost_weight=0.8,
    unless="fish|chicken|cleaning|gutting|butcher+s|hunter+s|deer|@food|dissection|biology|class|anatomy|model",
)
R(
    V,
    "brains|skull, brain matter",
    0.0,
    boost="splattered|blown|bashed|smashed|caved|crushed|exploding|spilled",
    boost_weight=0.8,
    unless="@animal|fossil|museum|model|plastic|halloween",
)
R(
    V,
    "stab+s+bed+bing|knifed",
    0.4,
    boost="@human_target|chest|neck|throat|repeatedly|death|wound+s|blood|killing|killed|body|brutally|stomach|back",
    boost_weight=0.85,
    unless="fork+s|@food|cake|steak|vegetable+s|potato+es|marshmallow+s|straw+s|needle+s|pin+s|cushion+s|"
    "balloon+s|ground|soil|dirt|paper|foam|ice|tire+s|tyre+s|cardboard|pumpkin+s|fruit",
)
R(
    V,
    "stab|gunshot|bullet|exit|gaping|open wound+s, bullet hole+s, shot dead, shot in the head|face, "
    "executed prisoner+s, firing squad+s, public execution+s|hanging+s, hanged man, hanging body, "
    "burned|burnt|burning|skinned|buried|boiled|eaten alive, beaten|stabbed|hacked|tortured to death, "
    "bludgeoned|bludgeoning|lynched|lynching+s, slit throat|wrist+s, throat slit|cut, "
    "slit|slitting his|her|their throat|wrists, hanging|hanged|hang himself|herself, self harm, "
    "cutting herself|himself, eyes gouged out, gouged out, lynch mob+s, mass grave+s, murder victim+s, "
    "crime scene photo+s",
    0.8,
    unless="costume|halloween|fake|prop|movie|film|game|videogame|zombie|photographer|camera|photo|portrait|"
    "basketball|soccer|football|hockey|golf|goal|ball|buried treasure|sand|beach|toy|doll",
)
R(
    V,
    "torture+s+d|torturing|torturer+s|tortured",
    0.6,
    unless="device+s|chamber|museum|medieval|dungeon|exhibit|exhibition|film|movie|artist+s|soul+s|tortured-artist",
)
R(
    V,
    "massacre+s+d|massacring|slaughter+s+ed+ing|butchered|butchering",
    0.45,
    boost="people|civilians|villagers|children|innocent|bodies|corpses|blood|victims|families|women|men",
    boost_weight=0.85,
    unless="@animal|cattle|livestock|pig+s|poultry|slaughterhouse|abattoir|meat|butcher|butchers|halal|kosher|"
    "chainsaw|film|movie|game|video|score|match|sports|team|rout|defeat|won|win|beat|election",
)
R(
    V,
    "murder+s+ed+ing|murderer+s|homicide+s|homicidal",
    0.45,
    boost="brutal|brutally|blood|bloody|knife|stabbed|body|corpse|victim|gruesome|scene",
    boost_weight=0.8,
    unless="crow+s|@bird|mystery|mysteries|party|parties|podcast+s|novel+s|board|game+s|book+s|show|tv|film|movie|"
    "documentary|detective|clue|costume",
)
R(
    V,
    "suicide+s|suicidal",
    0.55,
    unless="squad|prevention|hotline|awareness|doors|door|lane|bridge|charity|helpline|campaign|song|band|"
    "game|ride|wing|sauce|wings|hot|burger|spicy|pepper|drill|sprint+s|run|runs|basketball|",
)
R(
    V,
    "impale+s+d|impaling|impalement",
    0.5,
    unless="skewer+s|stick+s|fork+s|marshmallow+s|kebab+s|insect+s|butterfly|butterflies|pin+s|@food|fish|"
    "worm+s|hook+s|bait|vlad|statue|spike+s|fence|@animal",
)
R(
    V,
    "bleed+s+ing|bleeding|bled|hemorrhage+s+ing|haemorrhage+s+ing",
    0.3,
    boost="profusely|heavily|death|wound+s|body|corpse|to death|out|gash|gaping|mutilated|stab|stabbed|shot|"
    "bullet|@human_target|eye+s|mouth|ears|screaming",
    boost_weight=0.75,
    next="heart+s|edge|colors|colours|ink|dye+s|paint|through",
    unless="heart+s|paint|ink|dye+s|color+s|colour+s|brake+s|radiator|nose|nosebleed|print|printing|"
    "edge|photography|@animal|tree|sap|maple|syrup|gums|tooth|teeth|dentist|scratch|scrape|knee|"
    "finger|paper|cut|band-aid|bandage",
)


# ---- compiling ----------------------------------------------------------------


def _expand_word(spec: str) -> set[str]:
    """'fuck+s+ed' -> {'fuck', 'fucks', 'fucked'}; hyphens split like punctuation does."""
    base, *suffixes = spec.split("+")
    return {(base + s).replace("-", " ") for s in ["", *suffixes]}


def _expand_words(spec: str) -> set[str]:
    """Alternatives separated by '|' or spaces, with @group references."""
    out: set[str] = set()
    for part in re.split(r"[|\s]+", spec.strip()):
        if not part:
            continue
        if part.startswith("@"):
            out |= _expand_words(GROUPS[part[1:]])
        else:
            out |= {w for w in _expand_word(part)}
    # a multi-word form (from a hyphen) can only be context if all its words are one token
    return {w for w in out if w and " " not in w} | {w for w in out if " " in w}


def _expand_pattern(spec: str) -> list[tuple[str, ...]]:
    """'make|makes love, lovemaking' -> [('make', 'love'), ('makes', 'love'), ('lovemaking',)]:
    ', ' separates phrases, spaces separate a phrase's words, '|' separates one
    word's alternatives (each with +suffixes; a hyphen splits like punctuation)."""
    out: list[tuple[str, ...]] = []
    for phrase in spec.split(","):
        combos: list[tuple[str, ...]] = [()]
        for slot in phrase.split():
            forms = sorted(set().union(*(_expand_word(w) for w in slot.split("|") if w)))
            combos = [c + tuple(form.split()) for c in combos for form in forms]
        out.extend(c for c in combos if c)
    return out


@dataclass(frozen=True)
class Rule:
    category: int
    words: tuple[str, ...]
    weight: float
    boost: frozenset
    boost_weight: float
    unless: frozenset
    next: frozenset
    prev: frozenset
    name: str
    anchor: int  # the word the rule is looked up by: its longest (rarest, roughly)


# Words too frequent in captions to look phrases up by ("adult" of "adult film").
_COMMON = frozenset(
    "a an the in on of with without no not to up off out go his her their he she him it is are "
    "people adult adults hard group girl girls power ring rings make makes making made toy video "
    "having had has have shut call cut cutting open shot dead body bodies public head throat "
    "eyes eye white race light red blow blown bang bangs dance dancing show scene site star "
    "film movie store shop worker act position".split()
)


def _compile(rules) -> dict[str, list[Rule]]:
    index: dict[str, list[Rule]] = {}
    for category, pattern, weight, boost, boost_weight, unless, next_, prev in rules:
        boost_set, unless_set = frozenset(_expand_words(boost)), frozenset(_expand_words(unless))
        next_set, prev_set = frozenset(_expand_words(next_)), frozenset(_expand_words(prev))
        if pattern.startswith("@"):
            phrases = [(w,) for w in _expand_words(pattern)]
        else:
            phrases = _expand_pattern(pattern)
        for words in phrases:
            anchor = max(range(len(words)), key=lambda j: (words[j] not in _COMMON, len(words[j]), j))
            rule = Rule(
                CATEGORIES.index(category),
                words,
                float(weight),
                boost_set,
                float(boost_weight) if boost_set else 0.0,
                unless_set,
                next_set,
                prev_set,
                " ".join(words),
                anchor,
            )
            index.setdefault(words[anchor], []).append(rule)
    return index


INDEX = _compile(RULES)
TRIGGERS = frozenset(w for w, rules in INDEX.items() if any(r.weight > 0 for r in rules))
# Rules that only count next to a boost word: a caption needs both to be looked at.
CONTEXT_TRIGGERS = frozenset(INDEX) - TRIGGERS
CONTEXT_BOOSTS = frozenset().union(*(r.boost for w in CONTEXT_TRIGGERS for r in INDEX[w]))
VOCABULARY = frozenset(w for rules in INDEX.values() for r in rules for w in r.words)
_CENSORABLE = sorted(w for w in VOCABULARY if len(w) >= 3)

# Everything ASCII but letters, digits and the characters leetspeak uses becomes a space
# (a bytes table over the UTF-8 text: bytes >= 128, i.e. other scripts, pass unchanged),
# and so do the common non-ASCII punctuation marks.
_KEEP = set("abcdefghijklmnopqrstuvwxyz0123456789@$!*\n")
_ASCII_TABLE = bytes(c if chr(c) in _KEEP else 32 for c in range(128)) + bytes(range(128, 256))
_UNICODE_PUNCT = "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00b7\u2022\u00a0\u00ab\u00bb"
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "9": "g"}
)
# Captions worth a closer look although no word is a trigger: leetspeak characters
# inside a word and censoring asterisks (checked on lines holding such a character),
# letters stretched three times, spaced-out letters.
_SYMBOL = re.compile(r"[0134578@$!*9]")
_LEETSPEAK = re.compile(r"[a-z][0134578@$!*9]+[a-z]|[@$][a-z]{2}|[a-z]\*|\*[a-z]")
_SUSPECT = re.compile(r"([a-z])\1\1| [a-z] [a-z] ")
_STRETCH = re.compile(r"([a-z])\1+")
_TRIPLE = re.compile(r"([a-z])\1\1")


def _normalise_token(token: str) -> str:
    if token in VOCABULARY or token.isalpha() and not _TRIPLE.search(token):
        return token
    if not token.isalpha():
        stripped = token.strip("!*$@.")  # trailing "!" is punctuation, not an 'i'
        if stripped.isalpha() and stripped in VOCABULARY:
            return stripped
        core = token.strip("*")  # "**bold**" is markdown; "f*ck" is censoring
        if "*" in core and len(core) >= 3:
            pattern = re.compile(re.escape(core).replace(r"\*", "[a-z]") + r"\Z")
            for word in _CENSORABLE:
                if len(word) == len(core) and pattern.match(word):
                    return word
        letters = sum(c.isalpha() for c in token)
        if letters >= 2 and 2 * letters >= len(token):  # "p0rn", "s3x"; not "B008" or "1337"
            leet = token.translate(_LEET).strip("*")
            if leet in VOCABULARY:
                return leet
    if _TRIPLE.search(token):
        for replacement in (r"\1", r"\1\1"):
            candidate = _STRETCH.sub(replacement, token)
            if candidate in VOCABULARY:
                return candidate
    return token


def _tokens(line: str) -> list[str]:
    raw = line.split()
    out, run = [], []
    for token in raw + [""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if len(run) >= 3 and "".join(run) in VOCABULARY:  # "p o r n"
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(_normalise_token(token))
    return [t for t in out if t != "s"]  # "woman's" -> "woman s"


def _match(tokens: list[str], explain: bool):
    """Per-category noisy-or of matched rule weights (+ the matched rules)."""
    present = set(tokens)
    keep_clean = [1.0] * len(CATEGORIES)
    reasons = []
    for at, token in enumerate(tokens):
        for rule in INDEX.get(token, ()):
            n, i = len(rule.words), at - rule.anchor
            if n > 1 and (i < 0 or tuple(tokens[i : i + n]) != rule.words):
                continue
            if i + n < len(tokens) and tokens[i + n] in rule.next:
                continue
            if i > 0 and tokens[i - 1] in rule.prev:
                continue
            if rule.unless and not rule.unless.isdisjoint(present):
                continue
            weight = rule.weight
            if rule.boost_weight > weight and not rule.boost.isdisjoint(present):
                weight = rule.boost_weight
            if weight <= 0:
                continue
            keep_clean[rule.category] *= 1.0 - weight
            if explain:
                reasons.append((CATEGORIES[rule.category], rule.name, weight))
    return [1.0 - k for k in keep_clean], reasons


def _normalised_lines(texts: Sequence[str]) -> list[str]:
    blob = "\n".join(t.replace("\n", " ").replace("\r", " ") for t in texts).lower()
    for mark in _UNICODE_PUNCT:
        if mark in blob:
            blob = blob.replace(mark, " ")
    blob = blob.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE).decode("utf-8", "surrogatepass")
    return blob.split("\n")


def _candidates(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """The normalised captions, and which of them need a closer look."""
    lines = _normalised_lines(texts)
    hits = set()
    for i, line in enumerate(lines):
        words = line.split()
        if not TRIGGERS.isdisjoint(words) or (
            not CONTEXT_TRIGGERS.isdisjoint(words) and not CONTEXT_BOOSTS.isdisjoint(words)
        ):
            hits.add(i)
    blob = "\n".join(lines)
    positions = [m.start() for m in _SUSPECT.finditer(blob)]
    symbols = [m.start() for m in _SYMBOL.finditer(blob)]
    if positions or symbols:
        starts = np.cumsum([0] + [len(line) + 1 for line in lines[:-1]])
        for i in np.unique(np.searchsorted(starts, np.asarray(positions, dtype=np.int64), side="right") - 1):
            hits.add(int(i))
        for i in np.unique(np.searchsorted(starts, np.asarray(symbols, dtype=np.int64), side="right") - 1):
            if _LEETSPEAK.search(lines[int(i)]):
                hits.add(int(i))
    return lines, sorted(hits)


def score(texts: Sequence[str]) -> np.ndarray:
    """float32 [len(texts), len(CATEGORIES)] scores in [0, 1]."""
    texts = list(texts)
    out = np.zeros((len(texts), len(CATEGORIES)), dtype=np.float32)
    if not texts:
        return out
    lines, hits = _candidates(texts)
    for i in hits:
        out[i] = _match(_tokens(lines[i]), explain=False)[0]
    return out


def explain(texts: Sequence[str]) -> list[list[tuple[str, str, float]]]:
    """Per caption, the matched rules as (category, words, weight), for drop reasons."""
    texts = list(texts)
    reasons: list[list[tuple[str, str, float]]] = [[] for _ in texts]
    if not texts:
        return reasons
    lines, hits = _candidates(texts)
    for i in hits:
        reasons[i] = _match(_tokens(lines[i]), explain=True)[1]
    return reasons
