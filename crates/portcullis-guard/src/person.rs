//! PERSON: cheap, model-free name detection.
//!
//! A name is one to three capitalized tokens (Unicode letters, `O'Brien`, `Smith-Jones`,
//! particles such as `van der`, middle initials). It is reported when
//! * a cue precedes it: an honorific (`Mr.`, `Dr`, `Prof.`, `Frau`), an introduction
//!   (`my name is`, `Name:`, `named`, `Dear`, `Attn:`, `signed by`), a mail header at the
//!   start of a line (`From:`, `To:`, `Cc:`), or a sign-off line (`Best regards,\n`,
//!   `Thanks,\n`) followed by a line holding only the name;
//! * or its first token is in a compact embedded list of common given names (several
//!   hundred, many languages) and a capitalized surname follows (`Maria Garcia`), or a weak
//!   cue precedes it (`Hi Maria`, `I'm Priya`, `Thanks, Omar`).
//!
//! Tokens that are not names (`Customer`, `Team`, `Monday`, `The`) stop a name, and a
//! place or organization word (`Street`, `River`, `University`, `Inc`) rejects it
//! (`Jordan River`, `Victoria Station`). Misses: lowercase or all-caps names, names
//! without a cue whose given name is not in the list, and single given names without a
//! cue (`ask Maria`).

use crate::detector::{prev_char, push, Ctx};
use crate::{Finding, FindingKind};
use std::collections::HashSet;

/// The kind of cue before a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cue {
    /// `Mr.`, `Dr`, ...: must be capitalized; any capitalized tokens follow.
    Honorific,
    /// `my name is`, `Name:`, `Dear`: any capitalized tokens follow.
    Strong,
    /// `From:` / `To:` / `Cc:` at the start of a line.
    Header,
    /// `Hi`, `I'm`, `this is`: the first token must be a known given name.
    Weak,
    /// `Regards`, `Thanks`, `Cheers`: the name is on the next line (or a known given name
    /// follows on the same line).
    Signoff,
}

/// Cue words (matched case-insensitively, then checked for word boundaries).
pub(crate) const CUES: &[(&str, Cue)] = &[
    ("mr", Cue::Honorific),
    ("mrs", Cue::Honorific),
    ("ms", Cue::Honorific),
    ("miss", Cue::Honorific),
    ("mx", Cue::Honorific),
    ("dr", Cue::Honorific),
    ("prof", Cue::Honorific),
    ("professor", Cue::Honorific),
    ("sir", Cue::Honorific),
    ("dame", Cue::Honorific),
    ("mme", Cue::Honorific),
    ("mlle", Cue::Honorific),
    ("herr", Cue::Honorific),
    ("frau", Cue::Honorific),
    ("sra", Cue::Honorific),
    ("rev", Cue::Honorific),
    ("my name is", Cue::Strong),
    ("name is", Cue::Strong),
    ("name:", Cue::Strong),
    ("full name:", Cue::Strong),
    ("named", Cue::Strong),
    ("signed by", Cue::Strong),
    ("attn:", Cue::Strong),
    ("attn", Cue::Strong),
    ("author:", Cue::Strong),
    ("dear", Cue::Strong),
    ("patient:", Cue::Strong),
    ("patient", Cue::Strong),
    ("customer:", Cue::Strong),
    ("employee:", Cue::Strong),
    ("contact:", Cue::Strong),
    ("applicant:", Cue::Strong),
    ("passenger:", Cue::Strong),
    ("cardholder:", Cue::Strong),
    ("account holder:", Cue::Strong),
    ("beneficiary:", Cue::Strong),
    ("from:", Cue::Header),
    ("to:", Cue::Header),
    ("cc:", Cue::Header),
    ("bcc:", Cue::Header),
    ("reply-to:", Cue::Header),
    ("hi", Cue::Weak),
    ("hello", Cue::Weak),
    ("hey", Cue::Weak),
    ("i am", Cue::Weak),
    ("i'm", Cue::Weak),
    ("this is", Cue::Weak),
    ("ask", Cue::Weak),
    ("regards", Cue::Signoff),
    ("sincerely", Cue::Signoff),
    ("cheers", Cue::Signoff),
    ("best", Cue::Signoff),
    ("thanks", Cue::Signoff),
    ("thank you", Cue::Signoff),
    ("yours", Cue::Signoff),
];

/// Common given names. Names that are also frequent words or places (`Will`, `May`,
/// `Grace`, `Jordan`, `Victoria`, `Austin`) are left out on purpose: they still count
/// after a cue.
const GIVEN_NAMES: &[&str] = &[
    // English
    "James",
    "John",
    "Robert",
    "Michael",
    "David",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Christopher",
    "Daniel",
    "Matthew",
    "Anthony",
    "Donald",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kenneth",
    "Kevin",
    "Brian",
    "George",
    "Timothy",
    "Ronald",
    "Edward",
    "Jason",
    "Jeffrey",
    "Ryan",
    "Jacob",
    "Gary",
    "Nicholas",
    "Eric",
    "Jonathan",
    "Stephen",
    "Larry",
    "Justin",
    "Scott",
    "Brandon",
    "Benjamin",
    "Samuel",
    "Gregory",
    "Alexander",
    "Patrick",
    "Raymond",
    "Dennis",
    "Jerry",
    "Tyler",
    "Aaron",
    "Nathan",
    "Henry",
    "Douglas",
    "Zachary",
    "Peter",
    "Kyle",
    "Walter",
    "Ethan",
    "Jeremy",
    "Harold",
    "Keith",
    "Roger",
    "Noah",
    "Gerald",
    "Carl",
    "Terry",
    "Sean",
    "Arthur",
    "Lawrence",
    "Dylan",
    "Jesse",
    "Bryan",
    "Bruce",
    "Albert",
    "Gabriel",
    "Logan",
    "Alan",
    "Wayne",
    "Elijah",
    "Randy",
    "Vincent",
    "Ralph",
    "Eugene",
    "Russell",
    "Philip",
    "Louis",
    "Oliver",
    "Liam",
    "Lucas",
    "Owen",
    "Connor",
    "Isaac",
    "Caleb",
    "Luke",
    "Harry",
    "Oscar",
    "Leo",
    "Theo",
    "Mary",
    "Patricia",
    "Jennifer",
    "Linda",
    "Elizabeth",
    "Barbara",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Betty",
    "Margaret",
    "Sandra",
    "Ashley",
    "Kimberly",
    "Emily",
    "Donna",
    "Michelle",
    "Carol",
    "Amanda",
    "Dorothy",
    "Melissa",
    "Deborah",
    "Stephanie",
    "Rebecca",
    "Sharon",
    "Laura",
    "Cynthia",
    "Kathleen",
    "Amy",
    "Angela",
    "Shirley",
    "Anna",
    "Brenda",
    "Pamela",
    "Emma",
    "Nicole",
    "Helen",
    "Samantha",
    "Katherine",
    "Christine",
    "Rachel",
    "Carolyn",
    "Janet",
    "Catherine",
    "Maria",
    "Heather",
    "Diane",
    "Ruth",
    "Julie",
    "Olivia",
    "Joyce",
    "Kelly",
    "Lauren",
    "Christina",
    "Joan",
    "Evelyn",
    "Judith",
    "Megan",
    "Andrea",
    "Cheryl",
    "Hannah",
    "Jacqueline",
    "Martha",
    "Gloria",
    "Teresa",
    "Ann",
    "Sara",
    "Frances",
    "Kathryn",
    "Janice",
    "Abigail",
    "Alice",
    "Judy",
    "Sophia",
    "Julia",
    "Marie",
    "Denise",
    "Amber",
    "Doris",
    "Marilyn",
    "Danielle",
    "Beverly",
    "Isabella",
    "Theresa",
    "Diana",
    "Natalie",
    "Brittany",
    "Kayla",
    "Alexis",
    "Lori",
    "Chloe",
    "Mia",
    "Ava",
    "Amelia",
    "Isla",
    "Ella",
    "Lily",
    "Sophie",
    "Zoe",
    "Lucy",
    "Ellie",
    "Freya",
    "Harper",
    "Nora",
    "Hazel",
    "Claire",
    "Fiona",
    "Bob",
    "Tom",
    "Mike",
    "Dave",
    "Jim",
    "Tim",
    "Steve",
    "Kate",
    "Jane",
    "Liz",
    "Sam",
    "Ben",
    "Dan",
    "Nick",
    "Alex",
    "Chris",
    "Matt",
    "Josh",
    "Tony",
    "Jenny",
    // Spanish, Portuguese
    "Carlos",
    "Luis",
    "Miguel",
    "Javier",
    "Alejandro",
    "Diego",
    "Pablo",
    "Sergio",
    "Jorge",
    "Fernando",
    "Ricardo",
    "Eduardo",
    "Andrés",
    "Andres",
    "Manuel",
    "Francisco",
    "Rafael",
    "Antonio",
    "Pedro",
    "Raúl",
    "Raul",
    "Mateo",
    "Santiago",
    "João",
    "Joao",
    "Tiago",
    "Rodrigo",
    "Gustavo",
    "Felipe",
    "José",
    "Jose",
    "Juan",
    "Lucía",
    "Lucia",
    "Carmen",
    "Sofía",
    "Sofia",
    "Valentina",
    "Camila",
    "Isabel",
    "Elena",
    "Paula",
    "Marta",
    "Ana",
    "Beatriz",
    "Gabriela",
    "Fernanda",
    "Mariana",
    "Daniela",
    "Juliana",
    "Leticia",
    "Inés",
    "Ines",
    "Pilar",
    "Alba",
    // French, German, Italian, Dutch, Nordic
    "Jean",
    "Pierre",
    "Jacques",
    "Michel",
    "Philippe",
    "Nicolas",
    "Julien",
    "Antoine",
    "Mathieu",
    "François",
    "Francois",
    "Laurent",
    "Olivier",
    "Thierry",
    "Sébastien",
    "Sebastien",
    "Camille",
    "Manon",
    "Juliette",
    "Amélie",
    "Amelie",
    "Aurélie",
    "Céline",
    "Celine",
    "Sandrine",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Hans",
    "Klaus",
    "Jürgen",
    "Jurgen",
    "Stefan",
    "Andreas",
    "Tobias",
    "Matthias",
    "Lukas",
    "Felix",
    "Maximilian",
    "Florian",
    "Wolfgang",
    "Dieter",
    "Uwe",
    "Sabine",
    "Ursula",
    "Petra",
    "Monika",
    "Katrin",
    "Anja",
    "Jana",
    "Lena",
    "Hanna",
    "Greta",
    "Marco",
    "Luca",
    "Giuseppe",
    "Giovanni",
    "Francesco",
    "Alessandro",
    "Lorenzo",
    "Matteo",
    "Giulia",
    "Chiara",
    "Francesca",
    "Alessia",
    "Federica",
    "Silvia",
    "Sven",
    "Lars",
    "Erik",
    "Anders",
    "Nils",
    "Johan",
    "Karin",
    "Ingrid",
    "Astrid",
    "Sigrid",
    "Freja",
    "Jan",
    "Pieter",
    "Sander",
    "Daan",
    "Femke",
    "Sanne",
    "Anouk",
    "Björn",
    "Bjorn",
    // Slavic
    "Ivan",
    "Dmitri",
    "Dmitry",
    "Sergei",
    "Alexei",
    "Vladimir",
    "Nikolai",
    "Mikhail",
    "Andrei",
    "Pavel",
    "Olga",
    "Natalia",
    "Tatiana",
    "Svetlana",
    "Irina",
    "Ekaterina",
    "Anastasia",
    "Piotr",
    "Tomasz",
    "Krzysztof",
    "Marek",
    "Katarzyna",
    "Agnieszka",
    "Magdalena",
    "Jakub",
    "Ondřej",
    "Petr",
    "Łukasz",
    // South Asian
    "Priya",
    "Rahul",
    "Amit",
    "Anil",
    "Sunil",
    "Rajesh",
    "Ravi",
    "Vikram",
    "Arjun",
    "Rohan",
    "Aditya",
    "Sanjay",
    "Deepak",
    "Suresh",
    "Ramesh",
    "Vijay",
    "Ananya",
    "Aisha",
    "Pooja",
    "Neha",
    "Kavya",
    "Divya",
    "Lakshmi",
    "Sunita",
    "Anjali",
    "Meera",
    "Shreya",
    "Nisha",
    "Arun",
    "Kiran",
    "Manoj",
    "Sanjana",
    "Imran",
    "Farhan",
    // Arabic, Turkish, Persian
    "Omar",
    "Ahmed",
    "Mohammed",
    "Muhammad",
    "Mohamed",
    "Ali",
    "Hassan",
    "Hussein",
    "Khalid",
    "Youssef",
    "Yusuf",
    "Ibrahim",
    "Mustafa",
    "Tariq",
    "Karim",
    "Samir",
    "Fatima",
    "Layla",
    "Leila",
    "Noor",
    "Mariam",
    "Yasmin",
    "Zainab",
    "Amira",
    "Salma",
    "Mehmet",
    "Emre",
    "Burak",
    "Elif",
    "Zeynep",
    "Reza",
    "Parisa",
    // East and Southeast Asian
    "Wei",
    "Li",
    "Jing",
    "Ying",
    "Hui",
    "Ming",
    "Xin",
    "Yan",
    "Lei",
    "Jun",
    "Hao",
    "Xiaoming",
    "Hiroshi",
    "Takeshi",
    "Kenji",
    "Yuki",
    "Haruto",
    "Sakura",
    "Yui",
    "Aiko",
    "Hana",
    "Minjun",
    "Jiwoo",
    "Seoyeon",
    "Jae",
    "Hyun",
    "Minh",
    "Linh",
    "Thanh",
    // African
    "Kwame",
    "Kofi",
    "Chinedu",
    "Chioma",
    "Ngozi",
    "Adebayo",
    "Tendai",
    "Thabo",
    "Sipho",
    "Zanele",
    "Amani",
    "Wanjiru",
    "Abebe",
    "Oluwaseun",
];

/// Capitalized words that are not names; they end a name (and cannot start one).
const STOP: &[&str] = &[
    "The",
    "A",
    "An",
    "This",
    "That",
    "These",
    "Those",
    "It",
    "I",
    "We",
    "You",
    "He",
    "She",
    "They",
    "My",
    "Our",
    "Your",
    "His",
    "Her",
    "Their",
    "Please",
    "Thanks",
    "Thank",
    "Hi",
    "Hello",
    "Hey",
    "Dear",
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "Sir",
    "Madam",
    "Team",
    "Support",
    "Customer",
    "Customers",
    "Service",
    "Sales",
    "Admin",
    "Staff",
    "All",
    "Everyone",
    "HR",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "New",
    "Old",
    "North",
    "South",
    "East",
    "West",
    "Inc",
    "Ltd",
    "Bank",
    "Company",
    "User",
    "Users",
    "Manager",
    "Director",
    "Department",
    "Office",
    "Re",
    "Fw",
    "Fwd",
    "Subject",
    "Date",
    "Sent",
    "Yes",
    "No",
    "Ok",
    "Not",
    "None",
    "Unknown",
    "Test",
    "Example",
    "Sample",
    "Anonymous",
    "Guest",
    "Root",
    "System",
    "Noreply",
    "Regards",
    "Best",
    "Cheers",
    "Sincerely",
    "Of",
    "And",
    "Or",
    "Is",
    "Was",
    "Are",
    "Be",
    "Will",
    "Can",
    "Could",
    "Would",
    "Should",
    "In",
    "On",
    "At",
    "To",
    "From",
    "For",
    "With",
    "By",
    "About",
    "Here",
    "There",
    "Today",
    "Tomorrow",
    "Yesterday",
    "Morning",
    "Afternoon",
    "Evening",
    "Night",
    "Accounts",
    "Payable",
    "Billing",
    "Finance",
    "Legal",
    "Security",
    "Operations",
    "Engineering",
    "Marketing",
    "Payroll",
    "Reception",
    "Management",
    "Board",
    "Committee",
    "Council",
    "Friends",
    "Colleagues",
    "Folks",
    "All",
    "Partner",
    "Client",
    "Vendor",
    "Supplier",
    "Owner",
    "Holder",
    "Applicant",
    "Patient",
    "Employee",
    "Student",
    "Teacher",
    "Doctor",
    "Nurse",
    "Officer",
    "Agent",
    "Operator",
    "Help",
    "Desk",
    "Helpdesk",
    "Name",
    "Email",
    "Phone",
    "Address",
    "Account",
    "Card",
    "Number",
    "Order",
    "Invoice",
    "Ticket",
    "Note",
    "Notes",
    "Update",
    "Urgent",
    "Important",
    "Action",
    "Required",
    "Meeting",
    "Call",
    "Project",
    "Release",
    "Version",
    "Build",
    "Error",
    "Warning",
    "Info",
    "Debug",
    "Server",
    "Client",
    "Request",
    "Response",
    "Data",
    "File",
    "Files",
    "Report",
    "Reports",
    "Summary",
    "Details",
    "Status",
    "Issue",
    "Bug",
    "Feature",
    "Fix",
    "World",
    "Everybody",
    "Guys",
    "Happy",
    "Merry",
    "Sir",
    "Madam",
    "Mme",
    "Herr",
    "Frau",
    "Prof",
    "Professor",
];

/// Place and organization words: a "name" containing one is not a person.
const ORG: &[&str] = &[
    "Street",
    "St",
    "Avenue",
    "Ave",
    "Road",
    "Rd",
    "Lane",
    "Drive",
    "Boulevard",
    "Blvd",
    "Way",
    "Place",
    "Court",
    "River",
    "Lake",
    "Mountain",
    "Mount",
    "Park",
    "Station",
    "Airport",
    "University",
    "College",
    "School",
    "Academy",
    "Hospital",
    "Clinic",
    "Church",
    "Bank",
    "Inc",
    "Ltd",
    "LLC",
    "GmbH",
    "Corp",
    "Corporation",
    "Company",
    "Co",
    "Group",
    "Team",
    "Foundation",
    "Institute",
    "Hotel",
    "Center",
    "Centre",
    "Museum",
    "Bridge",
    "County",
    "City",
    "State",
    "Island",
    "Valley",
    "Beach",
    "Square",
    "Hall",
    "Tower",
    "Labs",
    "Systems",
    "Technologies",
    "Airlines",
    "Motors",
    "Fund",
    "Award",
    "Prize",
    "Memorial",
    "Library",
    "Stadium",
    "Arena",
    "Theatre",
    "Theater",
    "Gallery",
    "Trust",
    "Partners",
    "Associates",
    "Consulting",
    "Solutions",
    "Services",
    "Software",
    "Studios",
    "Records",
    "Press",
    "Times",
    "Post",
    "News",
    "Journal",
    "Review",
    "Project",
    "Program",
    "Protocol",
    "Act",
    "Law",
    "Effect",
    "Syndrome",
    "Disease",
    "Method",
    "Algorithm",
    "Theorem",
    "Equation",
    "Cup",
    "Bay",
    "Harbor",
    "Harbour",
    "Heights",
    "Hills",
    "Gardens",
    "Terrace",
    "Mall",
    "Market",
    "Plaza",
    "Building",
    "Castle",
    "Palace",
    "Cathedral",
    "Restaurant",
    "Cafe",
    "Café",
    "Pharmacy",
    "Store",
    "Shop",
    "Kitchen",
    "Bakery",
    "Hotels",
    "Resort",
    "Health",
    "Medical",
    "Capital",
    "Holdings",
    "Ventures",
    "Media",
    "Energy",
    "Street.",
    "Port",
    "Falls",
    "Springs",
    "Creek",
    "Forest",
    "Canyon",
    "Desert",
    "Sea",
    "Ocean",
    "Coast",
    "Province",
    "Region",
    "District",
    "Republic",
    "Kingdom",
];

/// Lowercase name particles allowed between capitalized tokens.
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "del", "della", "di", "du", "la", "le", "bin", "ibn",
    "al", "dos", "das", "ten", "ter",
];

/// The embedded word lists as hash sets.
pub(crate) struct Names {
    given: HashSet<&'static str>,
    stop: HashSet<&'static str>,
    org: HashSet<&'static str>,
}

impl Names {
    pub(crate) fn new() -> Self {
        Self {
            given: GIVEN_NAMES.iter().copied().collect(),
            stop: STOP.iter().copied().collect(),
            org: ORG.iter().copied().collect(),
        }
    }

    /// Whether `w` is in the embedded given-name list.
    pub(crate) fn is_given(&self, w: &str) -> bool {
        self.given.contains(w)
    }
}

/// A capitalized token at `i`: its end, and whether it is a bare initial (`F`).
fn token(text: &str, i: usize) -> Option<(usize, bool)> {
    let s = text.get(i..)?;
    let mut it = s.char_indices();
    let (_, c0) = it.next()?;
    if !c0.is_uppercase() {
        return None;
    }
    let mut end = c0.len_utf8();
    let (mut n, mut lower, mut joiner) = (1usize, false, false);
    for (k, c) in it {
        if c.is_alphabetic() {
            lower |= c.is_lowercase();
            end = k + c.len_utf8();
            n += 1;
            joiner = false;
            if n > 24 {
                return None;
            }
        } else if (c == '\'' || c == '’' || c == '-') && !joiner {
            joiner = true;
        } else {
            break;
        }
    }
    if n == 1 {
        return Some((i + end, true));
    }
    lower.then_some((i + end, false))
}

/// A name of 1..=3 capitalized tokens starting at `i`, as `(start, end, first token end)`.
/// `None` if it starts with a stop word or contains a place/organization word.
fn read_name(names: &Names, text: &str, i: usize) -> Option<(usize, usize, usize)> {
    let (first_end, initial) = token(text, i)?;
    read_name_from(names, text, i, first_end, initial)
}

/// Like [`read_name`], but the name may start with particles (`Mr. de la Cruz`).
fn read_name_particles(names: &Names, text: &str, i: usize) -> Option<(usize, usize, usize)> {
    let b = text.as_bytes();
    let mut k = i;
    for _ in 0..2 {
        let we = text
            .get(k..)
            .and_then(|r| r.find(|c: char| !c.is_ascii_lowercase()))
            .map(|x| k + x)?;
        if we > k && b.get(we) == Some(&b' ') && PARTICLES.contains(&text.get(k..we)?) {
            k = we + 1;
        } else {
            break;
        }
    }
    let (first_end, initial) = token(text, k)?;
    let (_, e, fe) = read_name_from(names, text, k, first_end, initial)?;
    Some((i, e, fe))
}

fn read_name_from(
    names: &Names,
    text: &str,
    i: usize,
    first_end: usize,
    initial: bool,
) -> Option<(usize, usize, usize)> {
    let b = text.as_bytes();
    if initial || names.stop.contains(text.get(i..first_end)?) {
        return None;
    }
    let mut end = first_end;
    let mut count = 1;
    let mut j = end;
    while count < 3 {
        // One space, optional particles (`van der`), or a middle initial `F.`.
        if b.get(j) != Some(&b' ') {
            break;
        }
        let mut k = j + 1;
        let mut particles = 0;
        loop {
            let w_end = text
                .get(k..)
                .and_then(|r| r.find(|c: char| !c.is_ascii_lowercase()))
                .map(|x| k + x);
            match w_end {
                Some(we) if we > k && b.get(we) == Some(&b' ') && particles < 2 => {
                    if PARTICLES.contains(&text.get(k..we).unwrap_or("")) {
                        k = we + 1;
                        particles += 1;
                        continue;
                    }
                    break;
                }
                _ => break,
            }
        }
        let Some((te, is_initial)) = token(text, k) else {
            break;
        };
        if is_initial {
            if b.get(te) == Some(&b'.') && b.get(te + 1) == Some(&b' ') {
                j = te + 1;
                continue;
            }
            break;
        }
        let w = text.get(k..te)?;
        if names.org.contains(w) || names.org.contains(w.trim_end_matches("'s")) {
            return None;
        }
        if names.stop.contains(w) {
            break;
        }
        end = te;
        count += 1;
        j = te;
    }
    // A place word right after the name (`Victoria Station`) also rejects it.
    if b.get(end) == Some(&b' ') {
        if let Some((te, false)) = token(text, end + 1) {
            if names.org.contains(text.get(end + 1..te)?) {
                return None;
            }
        }
    }
    Some((i, end, first_end))
}

/// A capitalized word at `i` (from the byte scan): a known given name followed by a
/// surname. Returns the position to skip to.
pub(crate) fn capitalized(ctx: &Ctx, text: &str, i: usize, out: &mut Vec<Finding>) -> usize {
    let names = &ctx.person;
    let Some((first_end, _)) = token(text, i) else {
        return i + 1;
    };
    if !text.get(i..first_end).is_some_and(|w| names.is_given(w)) {
        return first_end;
    }
    match read_name(names, text, i) {
        Some((s, e, fe)) if e > fe => {
            push(
                out,
                FindingKind::Person,
                Some("given_name_list"),
                s,
                e,
                0.75,
            );
            e
        }
        _ => first_end,
    }
}

fn is_line_start(text: &str, s: usize) -> bool {
    let b = text.as_bytes();
    let mut k = s;
    while k > 0 && matches!(b[k - 1], b' ' | b'\t') {
        k -= 1;
    }
    k == 0 || b[k - 1] == b'\n' || b[k - 1] == b'\r'
}

/// A cue word at `s..e`: the name after it, if any.
pub(crate) fn cue(ctx: &Ctx, cue: Cue, text: &str, s: usize, e: usize, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let names = &ctx.person;
    // Word boundaries: `this` is not `hi`, `items` is not `ms`.
    if matches!(prev_char(text, s), Some(c) if c.is_alphanumeric())
        || b.get(e - 1).is_some_and(u8::is_ascii_alphabetic)
            && b.get(e).is_some_and(u8::is_ascii_alphanumeric)
    {
        return;
    }
    let mut j = e;
    match cue {
        Cue::Honorific => {
            if !b.get(s).is_some_and(u8::is_ascii_uppercase) {
                return;
            }
            if b.get(j) == Some(&b'.') {
                j += 1;
            }
            if b.get(j) != Some(&b' ') {
                return;
            }
            j += 1;
            if let Some((ns, ne, _)) = read_name_particles(names, text, j) {
                push(out, FindingKind::Person, Some("honorific"), ns, ne, 0.9);
            }
        }
        Cue::Strong | Cue::Header | Cue::Weak => {
            if cue == Cue::Header && !is_line_start(text, s) {
                return;
            }
            // `Name:`-style cues may be followed by `:` (or `,`) and spaces.
            if matches!(b.get(j), Some(b':' | b',')) {
                j += 1;
            }
            let mut sp = 0;
            while matches!(b.get(j), Some(b' ' | b'\t')) && sp < 3 {
                j += 1;
                sp += 1;
            }
            if sp == 0 && !text.get(..e).is_some_and(|c| c.ends_with(':')) {
                return;
            }
            let Some((ns, ne, fe)) = read_name(names, text, j) else {
                return;
            };
            // A weak cue needs a known given name, unless it is a greeting closed by a
            // comma (`Hi Rashida,`).
            let greeting = b
                .get(s)
                .is_some_and(|c| matches!(c.to_ascii_lowercase(), b'h'))
                && matches!(b.get(ne), Some(b',' | b'!'));
            if cue == Cue::Weak && !greeting && !text.get(ns..fe).is_some_and(|w| names.is_given(w))
            {
                return;
            }
            let (sub, score) = match cue {
                Cue::Header => ("header", 0.85),
                Cue::Weak => ("greeting", 0.8),
                _ => ("introduced", 0.85),
            };
            push(out, FindingKind::Person, Some(sub), ns, ne, score);
        }
        Cue::Signoff => {
            // Rest of the sign-off line: `Best regards,` / `Thanks!` / `Cheers, Omar`.
            let mut k = j;
            while k < b.len() && k - j < 12 && !matches!(b[k], b'\n' | b'\r') {
                if b[k].is_ascii_uppercase() && b[k - 1] == b' ' {
                    break;
                }
                if !(b[k].is_ascii_alphabetic() || b" ,!.-".contains(&b[k])) {
                    return;
                }
                k += 1;
            }
            if matches!(b.get(k), Some(b'\n' | b'\r')) {
                // The name line: only the name on it.
                while matches!(b.get(k), Some(b'\n' | b'\r' | b' ')) {
                    k += 1;
                }
                if let Some((ns, ne, _)) = read_name(names, text, k) {
                    let line_end = matches!(b.get(ne), None | Some(b'\n' | b'\r' | b','));
                    if line_end {
                        push(out, FindingKind::Person, Some("signature"), ns, ne, 0.85);
                    }
                }
            } else if let Some((ns, ne, fe)) = read_name(names, text, k) {
                if text.get(ns..fe).is_some_and(|w| names.is_given(w)) {
                    push(out, FindingKind::Person, Some("greeting"), ns, ne, 0.8);
                }
            }
        }
    }
}
